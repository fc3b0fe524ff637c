"""Assets: uploaded media (direct, by URL, multipart), reusable across indexes.

Life cycle: `processing` (bytes arriving or being probed) → `ready` | `failed`.
The bytes live in the blob store at `asset_blob_key(asset_id)`; a probe job fills in
system metadata and decides the final status.
"""

from __future__ import annotations

import json
import logging
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from framedex.domain_errors import Conflict, InvalidParameter, NotFound, PayloadTooLarge
from framedex.ids import is_id, new_id, parse_rfc3339, utcnow
from framedex.ingest.keys import transcript_blob_key
from framedex.services import entities
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.blobs import BlobTooLarge
from framedex.storage.tables import AssetRow, IndexedAssetRow, JobRow

log = logging.getLogger("framedex.assets")

PROBE_JOB = "asset_probe"
TRANSCRIBE_JOB = "asset_transcribe"
FETCH_JOB = "asset_fetch"
FILE_TYPES = ("video", "audio", "image", "document")
_MAX_FILENAME = 255


def asset_blob_key(asset_id: str) -> str:
    return f"assets/{asset_id}/source"


def clean_filename(name: str | None) -> str | None:
    """Keep only the base name; filenames are shown back, never used as paths."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch.isprintable())
    return base[:_MAX_FILENAME] or None


def parse_user_metadata(raw: str | dict[str, Any] | None) -> dict[str, Any]:
    """User metadata arrives as an object (JSON bodies) or a JSON string (multipart)."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise InvalidParameter("user_metadata", "It must be a JSON object.") from exc
    if not isinstance(raw, dict):
        raise InvalidParameter("user_metadata", "It must be a JSON object.")
    return validate_user_metadata(raw, allow_null=False)


def validate_user_metadata(data: dict[str, Any], *, allow_null: bool) -> dict[str, Any]:
    for key, value in data.items():
        if not isinstance(key, str) or not key or len(key) > 128:
            raise InvalidParameter("user_metadata", "Keys must be non-empty strings of at most 128 characters.")
        if value is None and allow_null:
            continue
        ok = isinstance(value, str | bool | float | int) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise InvalidParameter(
                "user_metadata", f"The value of {key!r} must be a string, number, boolean or list of strings."
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
            raise InvalidParameter("user_metadata", f"The integer {key!r} must fit in 53 bits.")
    return data


def get_asset(session: Session, tenant_id: str, asset_id: str) -> AssetRow:
    row = session.get(AssetRow, asset_id) if is_id(asset_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("asset", asset_id)
    return row


def new_asset(session: Session, tenant_id: str, *, method: str, filename: str | None, file_type: str = "video",
              source_url: str | None = None, user_metadata: dict[str, Any] | None = None,
              asset_id: str | None = None) -> AssetRow:
    if file_type not in FILE_TYPES:
        raise InvalidParameter("type", f"Use one of {list(FILE_TYPES)}.")
    row = AssetRow(id=asset_id or new_id(), tenant_id=tenant_id, method=method, status="processing",
                   file_type=file_type, filename=clean_filename(filename), source_url=source_url,
                   user_metadata=user_metadata or {}, system_metadata={})
    session.add(row)
    session.flush()
    return row


def store_bytes(platform: Platform, asset_id: str, stream: BinaryIO, max_bytes: int) -> int:
    try:
        size, _ = platform.blobs.put_stream(asset_blob_key(asset_id), stream, max_bytes=max_bytes)
    except BlobTooLarge as exc:
        raise PayloadTooLarge(f"The file exceeds the limit of {max_bytes} bytes.") from exc
    return size


def bytes_received(platform: Platform, session: Session, asset: AssetRow, size: int) -> None:
    """The asset's bytes are in the blob store: record the size and queue the probe."""
    asset.size = size
    asset.blob_key = asset_blob_key(asset.id)
    platform.queue.enqueue(PROBE_JOB, {"asset_id": asset.id}, session=session)


def create_direct(platform: Platform, tenant_id: str, *, stream: BinaryIO, filename: str | None,
                  file_type: str = "video", user_metadata: dict[str, Any] | None = None,
                  max_bytes: int | None = None) -> AssetRow:
    if file_type not in FILE_TYPES:  # before receiving the bytes
        raise InvalidParameter("type", f"Use one of {list(FILE_TYPES)}.")
    # Bytes first, then the row and its probe job in one transaction: a process killed mid-upload
    # leaves only a partial blob write (swept at start-up), never an asset stuck in `processing`.
    asset_id = new_id()
    size = store_bytes(platform, asset_id, stream, max_bytes or platform.settings.max_asset_upload_bytes)
    try:
        with platform.store.session() as s:
            asset = new_asset(s, tenant_id, method="direct", filename=filename, file_type=file_type,
                              user_metadata=user_metadata, asset_id=asset_id)
            bytes_received(platform, s, asset, size)
            return asset
    except BaseException:
        platform.blobs.delete_prefix(f"assets/{asset_id}")
        raise


def create_from_url(platform: Platform, tenant_id: str, *, url: str, filename: str | None = None,
                    file_type: str = "video", user_metadata: dict[str, Any] | None = None) -> AssetRow:
    from framedex.ingest.fetch import validate_url

    validate_url(url, allow_private=platform.settings.allow_private_urls)
    with platform.store.session() as s:
        asset = new_asset(s, tenant_id, method="url", filename=filename or url.rsplit("/", 1)[-1].split("?")[0],
                          file_type=file_type, source_url=url, user_metadata=user_metadata)
        platform.queue.enqueue(FETCH_JOB, {"asset_id": asset.id}, session=s)
        return asset


def list_assets(platform: Platform, tenant_id: str, page: PageRequest, *, asset_ids: list[str] | None = None,
                asset_types: list[str] | None = None, filename: str | None = None,
                status: list[str] | None = None, created_at: str | None = None,
                sort_option: str = "desc") -> Page[AssetRow]:
    query = select(AssetRow).where(AssetRow.tenant_id == tenant_id)
    if asset_ids:
        query = query.where(AssetRow.id.in_(asset_ids))
    if asset_types:
        query = query.where(AssetRow.file_type.in_(asset_types))
    if filename:  # case-insensitive substring match (reference B.5)
        escaped = filename.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(AssetRow.filename.ilike(f"%{escaped}%", escape="\\"))
    if status:
        query = query.where(AssetRow.status.in_(status))
    if created_at:
        try:
            query = query.where(AssetRow.created_at >= parse_rfc3339(created_at))
        except ValueError as exc:
            raise InvalidParameter("created_at", "Use RFC 3339.") from exc
    order = AssetRow.created_at.asc() if sort_option == "asc" else AssetRow.created_at.desc()
    with platform.store.session() as s:
        return paginate(s, query.order_by(order, AssetRow.id), page)


def retrieve(platform: Platform, tenant_id: str, asset_id: str) -> AssetRow:
    with platform.store.session() as s:
        return get_asset(s, tenant_id, asset_id)


def delete_asset(platform: Platform, tenant_id: str, asset_id: str) -> None:
    with platform.store.session() as s:
        asset = get_asset(s, tenant_id, asset_id)
        in_use = s.scalars(select(IndexedAssetRow.id).where(IndexedAssetRow.asset_id == asset.id)).first()
        if in_use is not None:
            raise Conflict(
                "The asset is indexed in at least one index; delete its indexed assets first.",
                code="asset_in_use",
            )
        unlinked = entities.unlink_asset(s, tenant_id, asset.id)
        if unlinked:
            log.info("asset %s deleted: unlinked from entities %s", asset_id, unlinked)
        s.delete(asset)
    platform.blobs.delete_prefix(f"assets/{asset_id}")


def set_user_metadata(platform: Platform, tenant_id: str, asset_id: str, data: dict[str, Any] | None,
                      *, mode: str) -> None:
    """mode: replace (PUT), merge (PATCH: null deletes a key) or clear (DELETE)."""
    # Read-merge-write under the write lock: concurrent PATCHes of different keys all survive.
    with platform.store.session(immediate=True) as s:
        asset = get_asset(s, tenant_id, asset_id)
        s.refresh(asset, with_for_update=True)
        asset.user_metadata = merge_user_metadata(asset.user_metadata, data, mode=mode)
        asset.updated_at = utcnow()


def merge_user_metadata(current: dict[str, Any], data: dict[str, Any] | None, *, mode: str) -> dict[str, Any]:
    if mode == "clear":
        return {}
    if not isinstance(data, dict):
        raise InvalidParameter("user_metadata", "It must be a JSON object.")
    validate_user_metadata(data, allow_null=mode == "merge")
    if mode == "replace":
        return {k: v for k, v in data.items() if v is not None}
    merged = dict(current or {})
    for key, value in data.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def mark_failed(session: Session, asset_id: str, message: str) -> None:
    row = session.get(AssetRow, asset_id)
    if row is not None:
        row.status = "failed"
        row.error = {"message": message}
        row.updated_at = utcnow()


TRANSCRIPT_PENDING = ("pending", "validating", "queued", "indexing")


def _transcribing(session: Session, asset_id: str) -> bool:
    # Job payloads are JSON: match the asset here rather than with dialect-specific JSON SQL.
    return any(str(payload.get("asset_id")) == asset_id for payload in session.scalars(
        select(JobRow.payload).where(JobRow.kind == TRANSCRIBE_JOB, JobRow.status.in_(["queued", "running"]))))


def _audio_transcription_state(platform: Platform, asset: AssetRow) -> str:
    """An audio asset is transcribed by its own job (`TRANSCRIBE_JOB`, queued once the probe makes it ready;
    it cannot be indexed). `pending` until it is ready, `processing` while the job is queued or running."""
    if asset.status != "ready":
        return "pending"
    with platform.store.session() as s:
        if not _transcribing(s, asset.id):
            # Ready, no transcript and no job: an asset from before audio transcripts. Transcribe it now.
            platform.queue.enqueue(TRANSCRIBE_JOB, {"asset_id": asset.id}, session=s)
    return "processing"


def queue_transcription(platform: Platform, asset_id: str) -> None:
    """Queue the transcription of an audio asset the probe has just made ready."""
    with platform.store.session() as s:
        if not _transcribing(s, asset_id):
            platform.queue.enqueue(TRANSCRIBE_JOB, {"asset_id": asset_id}, session=s)


def transcription_state(platform: Platform, tenant_id: str, asset_id: str
                        ) -> tuple[str, dict[str, Any] | None, str | None]:
    """(status, transcript document or None, error message or None) for `GET /assets/{id}/transcription`.

    A video asset's transcript exists once an index has transcribed it. Before that the status is
    `processing` while an indexing job runs and `pending` otherwise; an asset whose indexing finished
    without a transcript (no audio track) has none: 404, as the reference says. An audio asset (which no
    index takes) is transcribed by a job of its own once it is ready.
    """
    with platform.store.session() as s:
        asset = get_asset(s, tenant_id, asset_id)
        statuses = set(s.scalars(select(IndexedAssetRow.status).where(IndexedAssetRow.asset_id == asset.id)))
    key = transcript_blob_key(asset_id)
    if platform.blobs.exists(key):
        with platform.blobs.open(key) as fh:
            try:
                document = json.load(fh)
            except (json.JSONDecodeError, UnicodeDecodeError):
                return "failed", None, "The stored transcription is unreadable."
        if isinstance(document, dict) and document.get("error") and not document.get("segments"):
            return "failed", None, str(document["error"])
        return "ready", document if isinstance(document, dict) else {}, None
    if asset.status == "failed":
        return "failed", None, str((asset.error or {}).get("message") or "The asset could not be processed.")
    if asset.file_type == "audio":
        return _audio_transcription_state(platform, asset), None, None
    if statuses & set(TRANSCRIPT_PENDING):
        return "processing", None, None
    if "ready" in statuses:
        raise NotFound("transcription of asset", asset_id)
    if statuses and statuses <= {"failed"}:
        return "failed", None, "Indexing the asset failed, so it has no transcription."
    return "pending", None, None
