#!/usr/bin/env bash
# One command: install everything plus the dev tools, lint, type-check and run the test suite.
# CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
echo "==> ruff"
.venv/bin/ruff check src tests bench eval
echo "==> mypy"
.venv/bin/mypy
echo "==> import-linter (layers of docs/architecture.md)"
PYTHONPATH=src .venv/bin/lint-imports --no-cache
echo "==> pytest"
HF_HUB_OFFLINE=1 .venv/bin/pytest "$@"
