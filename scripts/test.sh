#!/usr/bin/env bash
# Set everything up, including dev/test dependencies and Chromium, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_DEV=1 bash scripts/setup.sh
bash scripts/services.sh
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
