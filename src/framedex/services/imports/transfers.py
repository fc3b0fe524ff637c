"""Imports from storage: the `tasks.transfers` calls (`/tasks/transfers/import/{integration_id}`).

An import lists every video under an integration's folder or bucket prefix and, for each one it takes,
creates an asset and a `pending` video in the index right away (so the response can name the video ids,
as the real API does). A job then copies the bytes into the blob store and hands the video to the
ordinary ingest jobs (validate → index), so imported videos go through exactly the checks and pipeline
of uploaded ones.

Incremental: a file already imported into the index (same key, same size and modification time or ETag)
whose video still exists is skipped; one whose import or indexing failed is skipped too unless
`retry_failed`; `incremental_import=false` imports everything again.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from framedex.domain_errors import Conflict, MissingParameter, ServiceError
from framedex.ids import new_id, utcnow
from framedex.jobs.queue import Job
from framedex.jobs.worker import JobHandler
from framedex.services import assets as asset_service
from framedex.services.imports.sources import SourceObject, integration_config, open_source
from framedex.services.indexes import get_index
from framedex.services.platform import Platform
from framedex.services.videos import VALIDATE_JOB
from framedex.storage.tables import AssetRow, IndexedAssetRow, IndexRow
from framedex.storage.tables_imports import ImportObjectRow, ImportRunRow

log = logging.getLogger("framedex.imports")

FETCH_JOB = "import_fetch"
VIDEO_STATUSES = ("validating", "pending", "queued", "indexing", "ready", "failed")
FINAL = ("ready", "failed")
FAILED_CODE = "video_import_failed"


@dataclass(frozen=True)
class FileFailure:
    filename: str
    error_message: str


@dataclass(frozen=True)
class ImportedVideo:
    video_id: str
    filename: str


@dataclass(frozen=True)
class StartedImport:
    run_id: str
    videos: list[ImportedVideo]
    failed_files: list[FileFailure]
    skipped: int  # already imported (incremental)
    deferred: int  # over the per-run file cap; the next run takes them


@dataclass(frozen=True)
class FileState:
    filename: str
    created_at: datetime
    video_id: str | None = None
    error_message: str | None = None


@dataclass(frozen=True)
class ImportStatus:
    by_status: dict[str, list[FileState]] = field(default_factory=dict)
    not_imported: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ImportLog:
    index_id: str
    index_name: str | None
    created_at: datetime
    ended_at: datetime | None
    video_status: dict[str, int]
    failed_files: list[FileFailure]


# --- starting an import ---------------------------------------------------------------------------


def _objects(session: Session, tenant_id: str, integration_id: str, index_id: str) -> dict[str, ImportObjectRow]:
    rows = session.scalars(select(ImportObjectRow).where(
        ImportObjectRow.tenant_id == tenant_id, ImportObjectRow.integration_id == integration_id,
        ImportObjectRow.index_id == index_id))
    return {row.key: row for row in rows}


def _videos(session: Session, ids: list[str]) -> dict[str, IndexedAssetRow]:
    out: dict[str, IndexedAssetRow] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        for row in session.scalars(select(IndexedAssetRow).where(IndexedAssetRow.id.in_(ids[start:start + 500]))):
            out[row.id] = row
    return out


def _refresh_run(session: Session, run: ImportRunRow) -> None:
    """A run ends when each of its videos is ready or failed (or was deleted); note when that was seen."""
    if run.ended_at is not None:
        return
    videos = _videos(session, [str(i["video_id"]) for i in run.items])
    if all(v.status in FINAL for v in videos.values()):
        run.ended_at = max((v.updated_at for v in videos.values()), default=None) or utcnow()


def _wanted(obj: SourceObject, existing: ImportObjectRow | None, video: IndexedAssetRow | None, *,
            incremental: bool, retry_failed: bool) -> bool:
    if not incremental or existing is None or existing.fingerprint != obj.fingerprint:
        return True
    if video is None:  # deleted from the index since: it is not in the index any more
        return True
    failed = existing.status == "failed" or video.status == "failed"
    return failed and retry_failed


def _pending_video(session: Session, tenant_id: str, index_id: str, asset: AssetRow,
                   user_metadata: dict[str, Any]) -> IndexedAssetRow:
    # `videos.create_indexed_asset` queues validation at once; here the bytes are still on their way, so the
    # video waits in `pending` (the real API's "uploading" state) until the fetch job queues validation.
    row = IndexedAssetRow(id=new_id(), tenant_id=tenant_id, index_id=index_id, asset_id=asset.id,
                          status="pending", filename=asset.filename, user_metadata=dict(user_metadata),
                          system_metadata={})
    session.add(row)
    session.flush()
    return row


def start_import(platform: Platform, tenant_id: str, integration_id: str, *, index_id: str | None,
                 incremental_import: bool = True, retry_failed: bool = False,
                 user_metadata: Any = None) -> StartedImport:
    settings = platform.settings
    integration_config(settings, integration_id)  # 404 before anything else
    if not index_id:
        raise MissingParameter("index_id")
    metadata = asset_service.parse_user_metadata(user_metadata)
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)
        last = s.scalars(select(ImportRunRow).where(
            ImportRunRow.tenant_id == tenant_id, ImportRunRow.integration_id == integration_id)
            .order_by(ImportRunRow.created_at.desc()).limit(1)).first()
        if last is not None:
            _refresh_run(s, last)
            if last.ended_at is None:
                raise Conflict(f"An import from integration {integration_id!r} is still running; only one "
                               "import job can run at a time. Follow it with GET .../logs.",
                               code="import_in_progress")
    source = open_source(settings, integration_id)
    listed = source.list(settings.import_max_listed)

    videos: list[ImportedVideo] = []
    failures: list[FileFailure] = []
    skipped = deferred = 0
    run_id = new_id()
    with platform.store.session() as s:
        existing = _objects(s, tenant_id, integration_id, index_id)
        alive = _videos(s, [o.video_id for o in existing.values() if o.video_id])
        for obj in listed:
            row = existing.get(obj.key)
            if not _wanted(obj, row, alive.get(row.video_id or "") if row else None,
                           incremental=incremental_import, retry_failed=retry_failed):
                skipped += 1
                continue
            if obj.size > settings.import_max_video_bytes:
                failures.append(FileFailure(obj.key, f"The file is {obj.size} bytes; videos may be at most "
                                                     f"{settings.import_max_video_bytes} bytes."))
                continue
            if len(videos) >= settings.import_max_files:
                deferred += 1
                continue
            asset = asset_service.new_asset(s, tenant_id, method="direct", filename=obj.key,
                                            user_metadata=metadata)
            video = _pending_video(s, tenant_id, index_id, asset, metadata)
            if row is None:
                row = ImportObjectRow(tenant_id=tenant_id, integration_id=integration_id, index_id=index_id,
                                      key=obj.key)
                s.add(row)
            row.fingerprint, row.size, row.run_id = obj.fingerprint, obj.size, run_id
            row.asset_id, row.video_id, row.status, row.error = asset.id, video.id, "importing", None
            s.flush()
            platform.queue.enqueue(FETCH_JOB, {"object_id": row.id}, session=s)
            videos.append(ImportedVideo(video.id, obj.key))
        s.add(ImportRunRow(id=run_id, tenant_id=tenant_id, integration_id=integration_id, index_id=index_id,
                           items=[{"filename": v.filename, "video_id": v.video_id} for v in videos],
                           failed_files=[{"filename": f.filename, "error_message": f.error_message}
                                         for f in failures],
                           ended_at=None if videos else utcnow()))
    log.info("import %s from %s into %s: %d new, %d skipped, %d refused, %d deferred", run_id, integration_id,
             index_id, len(videos), skipped, len(failures), deferred)
    return StartedImport(run_id, videos, failures, skipped, deferred)


# --- status and logs ------------------------------------------------------------------------------


def import_status(platform: Platform, tenant_id: str, integration_id: str, index_id: str | None) -> ImportStatus:
    integration_config(platform.settings, integration_id)
    if not index_id:
        raise MissingParameter("index_id")
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)
        objects = _objects(s, tenant_id, integration_id, index_id)
        videos = _videos(s, [o.video_id for o in objects.values() if o.video_id])
    by_status: dict[str, list[FileState]] = {status: [] for status in VIDEO_STATUSES}
    imported: set[str] = set()
    for key in sorted(objects):
        obj = objects[key]
        video = videos.get(obj.video_id or "")
        if obj.status == "failed":
            by_status["failed"].append(FileState(key, obj.updated_at, error_message=obj.error or "Import failed."))
        elif video is None:
            continue  # deleted from the index: reported as not imported below
        elif video.status == "failed":
            message = str((video.error or {}).get("message") or "Indexing failed.")
            by_status["failed"].append(FileState(key, video.created_at, error_message=message))
        else:
            by_status.setdefault(video.status, []).append(FileState(key, video.created_at, video_id=video.id))
        imported.add(key)
    listed = open_source(platform.settings, integration_id).list(platform.settings.import_max_listed)
    return ImportStatus(by_status, [o.key for o in listed if o.key not in imported])


def import_logs(platform: Platform, tenant_id: str, integration_id: str, *, page: int | None = None,
                page_limit: int | None = None) -> list[ImportLog]:
    """Oldest first, as the API lists them; all of them, or one page when `page`/`page_limit` are given."""
    integration_config(platform.settings, integration_id)
    query = (select(ImportRunRow)
             .where(ImportRunRow.tenant_id == tenant_id, ImportRunRow.integration_id == integration_id)
             .order_by(ImportRunRow.created_at.asc(), ImportRunRow.id))
    if page is not None or page_limit is not None:
        limit = page_limit or 10
        query = query.offset(((page or 1) - 1) * limit).limit(limit)
    out: list[ImportLog] = []
    with platform.store.session() as s:
        for run in s.scalars(query):
            _refresh_run(s, run)
            videos = _videos(s, [str(i["video_id"]) for i in run.items])
            counts = dict.fromkeys(VIDEO_STATUSES, 0)
            failed = [FileFailure(str(f["filename"]), str(f["error_message"])) for f in run.failed_files]
            for item in run.items:
                video = videos.get(str(item["video_id"]))
                if video is None:
                    continue
                counts[video.status] = counts.get(video.status, 0) + 1
                if video.status == "failed":
                    message = str((video.error or {}).get("message") or "Indexing failed.")
                    failed.append(FileFailure(str(item["filename"]), message))
            index = s.get(IndexRow, run.index_id)
            out.append(ImportLog(run.index_id, index.name if index else None, run.created_at, run.ended_at,
                                 counts, failed))
    return out


# --- the fetch job --------------------------------------------------------------------------------


def _fail_object(platform: Platform, object_id: int, message: str) -> None:
    with platform.store.session() as s:
        obj = s.get(ImportObjectRow, object_id)
        if obj is None:
            return
        obj.status, obj.error = "failed", message
        if obj.asset_id:
            asset_service.mark_failed(s, obj.asset_id, message)
        video = s.get(IndexedAssetRow, obj.video_id) if obj.video_id else None
        if video is not None:
            video.status = "failed"
            video.error = {"code": FAILED_CODE, "message": message}
            video.updated_at = utcnow()


def fetch_object(platform: Platform, object_id: int) -> None:
    """Copy one file into the blob store, then queue the video's validation. Idempotent: a re-run after the
    copy finished does nothing."""
    with platform.store.session() as s:
        obj = s.get(ImportObjectRow, object_id)
        if obj is None or obj.status != "importing" or not obj.asset_id:
            return
        integration_id, key, asset_id, video_id = obj.integration_id, obj.key, obj.asset_id, obj.video_id
    try:
        source = open_source(platform.settings, integration_id)
        with contextlib.closing(source.open(key)) as stream:
            size = asset_service.store_bytes(platform, asset_id, stream, platform.settings.import_max_video_bytes)
    except ServiceError as exc:  # gone, refused, too large: retrying will not change it
        log.info("import of %s from %s failed: %s", key, integration_id, exc.message)
        _fail_object(platform, object_id, exc.message)
        return
    with platform.store.session() as s:
        obj = s.get(ImportObjectRow, object_id)
        asset = s.get(AssetRow, asset_id)
        if obj is None or asset is None:
            return
        asset_service.bytes_received(platform, s, asset, size)
        obj.status = "transferred"
        if video_id and s.get(IndexedAssetRow, video_id) is not None:
            platform.queue.enqueue(VALIDATE_JOB, {"video_id": video_id}, session=s)


def job_handlers(platform: Platform) -> dict[str, JobHandler]:
    def run(job: Job) -> None:
        fetch_object(platform, int(job.payload["object_id"]))

    def give_up(job: Job, reason: str) -> None:
        _fail_object(platform, int(job.payload["object_id"]), f"The file could not be copied: {reason}")

    return {FETCH_JOB: JobHandler(run, give_up)}
