"""Start-up recovery and periodic upkeep: whatever a killed process left half-done is finished or
cleaned up here, and rows that only grow (finished jobs, expired search sessions) are purged.

What a SIGKILL can leave, and who deals with it:

* a job `running` under a dead owner: its lease runs out and another worker reclaims it (`jobs.queue`);
* a partial blob write (`.tmp-*`): `sweep_temp` at start-up and on every round;
* a multipart session left `completing` (killed mid-assembly): assembled again (`uploads.finish_interrupted`);
  sessions past their expiry, `active` or `completing`, expire and drop their chunks;
* an asset `processing` with no job and no upload session that could ever finish it: failed;
* asset bytes stored by a direct upload killed before its row was written: removed.

Every step is idempotent and safe to run in several processes at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from framedex.ids import utcnow
from framedex.services import assets as asset_service
from framedex.services import uploads
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow, JobRow, MultipartUploadRow, SearchSessionRow

log = logging.getLogger("framedex.recovery")

# An asset that nothing can finish is failed after this long (a live direct upload has no row yet,
# so this only waits out slow multipart clients and jobs that are about to be enqueued).
STUCK_ASSET_AGE = timedelta(hours=1)
ORPHAN_BLOB_AGE = timedelta(hours=1)
FINISHED_JOB_RETENTION = timedelta(days=7)
MAINTENANCE_INTERVAL_SECONDS = 300.0
ASSET_JOBS = (asset_service.PROBE_JOB, asset_service.FETCH_JOB)


@dataclass
class Report:
    temp_files: int = 0
    uploads_expired: int = 0
    uploads_finished: int = 0
    assets_failed: int = 0
    orphan_blobs: int = 0
    jobs_purged: int = 0
    search_sessions_purged: int = 0
    errors: list[str] = field(default_factory=list)


def fail_stuck_assets(platform: Platform, older_than: datetime) -> int:
    """Fail `processing` assets last touched before `older_than` that no pending job or live upload
    session will ever finish (e.g. a direct upload killed by an older version of the server)."""
    with platform.store.session() as s:
        candidates = list(s.scalars(
            select(AssetRow.id).where(AssetRow.status == "processing", AssetRow.updated_at < older_than)
        ))
        if not candidates:
            return 0
        pending = {
            str(payload.get("asset_id")) for payload in s.scalars(
                select(JobRow.payload).where(JobRow.kind.in_(ASSET_JOBS), JobRow.status.in_(["queued", "running"]))
            )
        }
        uploading = set(s.scalars(
            select(MultipartUploadRow.asset_id).where(
                MultipartUploadRow.asset_id.in_(candidates),
                MultipartUploadRow.status.in_((uploads.ACTIVE, uploads.COMPLETING)))
        ))
        stuck = [a for a in candidates if a not in pending and a not in uploading]
        for asset_id in stuck:
            asset_service.mark_failed(s, asset_id, "Processing was interrupted; upload the file again.")
    if stuck:
        log.warning("failed %d asset(s) left processing by an interrupted upload", len(stuck))
    return len(stuck)


def remove_orphan_asset_blobs(platform: Platform, older_than: datetime) -> int:
    """Remove `assets/<id>/` blobs without an asset row: a direct upload stores its bytes before writing the
    row, so a kill between the two leaves bytes nobody refers to. Only groups untouched since `older_than`
    are candidates: a live upload's row may not be committed yet."""
    limit = older_than.timestamp()
    stale = [name for name, modified in platform.blobs.list_groups("assets").items() if modified < limit]
    if not stale:
        return 0
    with platform.store.session() as s:
        known = set(s.scalars(select(AssetRow.id).where(AssetRow.id.in_(stale))))
    removed = 0
    for name in stale:
        if name not in known:
            platform.blobs.delete_prefix(f"assets/{name}")
            removed += 1
    return removed


def purge_search_sessions(platform: Platform) -> int:
    with platform.store.session() as s:
        result = s.execute(delete(SearchSessionRow).where(SearchSessionRow.expires_at < utcnow())
                           .execution_options(synchronize_session=False))
        return int(result.rowcount)  # type: ignore[attr-defined]


def run_maintenance(platform: Platform, *, at_startup: bool = False) -> Report:
    """One round of upkeep. At start-up of the embedded stack (SQLite: one process owns the data
    dir) every `completing` session belongs to a dead process and is assembled at once; otherwise
    only those idle for `uploads.STALE_COMPLETING` are, as another live process may be assembling."""
    report = Report()
    now = utcnow()
    single_process = platform.store.dialect == "sqlite"
    steps = [
        ("temp_files", platform.blobs.sweep_temp),
        ("uploads_expired", lambda: uploads.expire_stale(platform)),
        ("uploads_finished", lambda: uploads.finish_interrupted(
            platform, now if at_startup and single_process else now - uploads.STALE_COMPLETING)),
        ("assets_failed", lambda: fail_stuck_assets(platform, now - STUCK_ASSET_AGE)),
        ("orphan_blobs", lambda: remove_orphan_asset_blobs(platform, now - ORPHAN_BLOB_AGE)),
        ("jobs_purged", lambda: platform.queue.purge_finished(FINISHED_JOB_RETENTION)),
        ("search_sessions_purged", lambda: purge_search_sessions(platform)),
    ]
    for name, step in steps:
        try:
            setattr(report, name, step())
        except Exception as exc:  # one failing step (a busy database) must not skip the others
            log.exception("maintenance step %s failed", name)
            report.errors.append(f"{name}: {exc}")
    return report


class Maintenance:
    """Runs `run_maintenance` at start and then every `interval` seconds in a daemon thread."""

    def __init__(self, platform: Platform, interval: float = MAINTENANCE_INTERVAL_SECONDS) -> None:
        self.platform = platform
        self.interval = interval
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="framedex-maintenance", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _loop(self) -> None:
        at_startup = True
        while True:
            report = run_maintenance(self.platform, at_startup=at_startup)
            log.info("maintenance: %s", report)
            at_startup = False
            if self.stop_event.wait(self.interval):
                return

    def stop(self, timeout: float = 5.0) -> None:
        self.stop_event.set()
        self.thread.join(timeout)
