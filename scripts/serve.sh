#!/usr/bin/env bash
# One command: install everything, then run `framedex serve` (arguments are passed through).
#   scripts/serve.sh --data-dir ./data --host 127.0.0.1 --port 8000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/framedex serve "$@"
