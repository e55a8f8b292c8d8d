#!/usr/bin/env bash
# Set everything up (idempotent) and serve on http://127.0.0.1:8000 (override with DUBLE_HOST / DUBLE_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/services.sh
.venv/bin/duble migrate
exec .venv/bin/duble serve "$@"
