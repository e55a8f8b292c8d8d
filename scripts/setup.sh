#!/usr/bin/env bash
# One-shot, idempotent setup: Debian packages, .venv with pinned torch first, Python deps, services, schema.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_DEV=${WITH_DEV:-0}
export DEBIAN_FRONTEND=noninteractive PIP_DISABLE_PIP_VERSION_CHECK=1

apt_pkgs=(espeak-ng sox libsndfile1)
# Tests drive a real Chromium; bench/quality.py renders target speakers with flite and festival voices and takes real
# human Spanish speech (with transcripts) from the Asterisk prompts.
[ "$WITH_DEV" = 1 ] && apt_pkgs+=(chromium flite festival festvox-kallpc16k festvox-kdlpc16k festvox-italp16k
  asterisk-core-sounds-es asterisk-core-sounds-es-wav festvox-itapc16k festvox-suopuhe-lj festvox-suopuhe-mv
  festvox-czech-dita festvox-czech-machac festvox-ca-ona-hts)
# The ops tests (tests/ops/) put HAProxy in front of two instances.
[ "$WITH_DEV" = 1 ] && apt_pkgs+=(haproxy docker-compose)
missing=()
for p in "${apt_pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    2> >(grep -v "^debconf: delaying package configuration" >&2)
fi

[ -x .venv/bin/python ] || python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
# --no-warn-conflicts: the --no-deps installs below knowingly leave f5-tts extras (gradio, bitsandbytes…) out.
PIP=".venv/bin/python -m pip install -q --no-warn-conflicts"
# This machine kind's pip config names optional local indexes that may be absent; pip warns about each. Not ours.
quiet_pip() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet_pip $PIP --upgrade 'pip<26.2' 'setuptools<81' wheel
# torch first and pinned: any other version is a multi-GB download.
quiet_pip $PIP torch==2.13.0
# Packages whose dependency metadata would pull a different torch are installed without deps.
quiet_pip $PIP --no-deps torchaudio==2.11.0 f5-tts==1.1.22 vocos==0.1.0 encodec==0.1.1
rm -f .venv/lib/python3.11/site-packages/torchaudio/lib/*.so
# pyworld builds from source and needs setuptools<81 in its build environment.
quiet_pip $PIP 'numpy>=1.26,<2.3' 'cython>=3'
quiet_pip $PIP --no-build-isolation 'pyworld>=0.3.4'
quiet_pip $PIP -c requirements/constraints.txt -r requirements/runtime.txt
if [ "$WITH_DEV" = 1 ]; then
  quiet_pip $PIP --no-build-isolation -c requirements/constraints.txt -r requirements/dev.txt
fi
# The image build (Dockerfile) installs the project itself in a later layer, so code edits keep the deps cached.
[ "${SETUP_SKIP_PROJECT:-0}" = 1 ] || quiet_pip $PIP --no-deps -e .
