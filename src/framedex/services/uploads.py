"""Multipart uploads: large local files sent in chunks, then assembled into an asset.

Flow (as the official SDK's `multipart_upload.upload_file` drives it):

1. `create_upload` makes a `multipart` asset (status `processing`) and a session with a chunk size,
   a chunk count and signed chunk URLs (`chunk_urls`).
2. The client PUTs each chunk to its signed URL (`put_chunk`): no API key, the HMAC signature in
   the URL authorises exactly one chunk of one session until the URL expires.
3. The client reports the chunks it uploaded with their ETags (`report_chunks`). When every chunk
   is reported, the chunks are concatenated into the asset's blob, its size is checked and the
   asset goes on to probing (`assets.bytes_received`).

Sessions last 24 h, signed URLs 1 h (reference A.11). Chunk indexes are 1-based.

Size (~590 lines): one upload session's life, from signed URLs through chunks to assembly and status;
every part reads and writes the same session and chunk rows under one expiry/locking rule, so it stays in
one module (the signed-URL scheme is the part to move out if another transport arrives).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, BinaryIO
from urllib.parse import urlencode

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from framedex.domain_errors import (
    Conflict,
    Forbidden,
    InvalidParameter,
    MissingParameter,
    NotFound,
    PayloadTooLarge,
    ServiceError,
)
from framedex.ids import is_id, new_id, utcnow
from framedex.services import assets
from framedex.services.media import MAX_IMAGE_BYTES
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.blobs import BlobTooLarge
from framedex.storage.tables import AssetRow, MultipartUploadRow, UploadChunkRow

log = logging.getLogger(__name__)

SESSION_TTL = timedelta(hours=24)
URL_TTL = timedelta(hours=1)
# A session left `completing` this long (the process assembling it died) may be claimed again.
STALE_COMPLETING = timedelta(minutes=30)
MAX_URLS_PER_CALL = 50
# A chunk count this large would make the session itself unwieldy; the chunk size grows instead.
MAX_CHUNKS = 10_000
UPLOAD_TYPES = ("video", "audio", "image")

# Stored statuses: active → completing (one reporter is assembling) → completed | failed;
# active → expired once the session passes `expires_at`.
ACTIVE = "active"
COMPLETING = "completing"
COMPLETED = "completed"
FAILED = "failed"
EXPIRED = "expired"


class UploadExpired(ServiceError):
    status = 400
    code = "upload_expired"


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    from datetime import UTC

    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def chunk_blob_key(upload_id: str, chunk_index: int, token: str | None) -> str:
    """Where one PUT of a chunk is stored. Every PUT writes a blob of its own (``token``), so two PUTs of
    the same chunk, concurrent or not, never write the same file; the chunk's row names the blob whose
    bytes its ETag describes. Rows stored before tokens existed (``None``) name the chunk's one blob."""
    return f"uploads/{upload_id}/{chunk_index}" + (f".{token}" if token else "")


def stored_chunk_keys(session: Session, upload_id: str) -> dict[int, str]:
    """The blob of each chunk stored so far, by chunk index."""
    return {r.chunk_index: chunk_blob_key(upload_id, r.chunk_index, r.blob_token)
            for r in session.scalars(select(UploadChunkRow).where(UploadChunkRow.upload_id == upload_id))}


def _locked_upload(session: Session, upload_id: str) -> MultipartUploadRow | None:
    """The session row, locked until the transaction ends (with `session(immediate=True)` on SQLite):
    chunk PUTs, reports and the completion claim of one upload run their bookkeeping one at a time."""
    return session.scalars(
        select(MultipartUploadRow).where(MultipartUploadRow.id == upload_id).with_for_update()
    ).one_or_none()


def expected_chunk_size(upload: MultipartUploadRow, chunk_index: int) -> int:
    if chunk_index < upload.total_chunks:
        return upload.chunk_size
    return upload.total_size - upload.chunk_size * (upload.total_chunks - 1)


def wire_status(upload: MultipartUploadRow, now: datetime | None = None) -> str:
    """The status the API reports: active | completed | failed | expired."""
    if upload.status == COMPLETING:
        return ACTIVE
    if upload.status == ACTIVE and _aware(upload.expires_at) <= (now or utcnow()):
        return EXPIRED
    return upload.status


# --- signed chunk URLs ---------------------------------------------------------------------------


def _signature(platform: Platform, upload: MultipartUploadRow, chunk_index: int, expires: int) -> str:
    message = f"{upload.id}:{chunk_index}:{expires}:{upload.secret}".encode()
    return hmac.new(platform.signing_key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ChunkUrl:
    chunk_index: int
    url: str
    expires_at: datetime


def chunk_urls(platform: Platform, upload: MultipartUploadRow, base_url: str, start: int,
               count: int) -> list[ChunkUrl]:
    """Signed PUT URLs for chunks `start .. start+count-1` (clipped to the session's chunks)."""
    expires_at = min(utcnow() + URL_TTL, _aware(upload.expires_at))
    expires = int(expires_at.timestamp())
    base = base_url.rstrip("/")
    out = []
    for index in range(start, min(start + count, upload.total_chunks + 1)):
        query = urlencode({"expires": expires, "sig": _signature(platform, upload, index, expires)})
        out.append(ChunkUrl(index, f"{base}/uploads/{upload.id}/chunks/{index}?{query}", expires_at))
    return out


# --- sessions ------------------------------------------------------------------------------------


def get_upload(session: Session, tenant_id: str, upload_id: str) -> MultipartUploadRow:
    row = session.get(MultipartUploadRow, upload_id) if is_id(upload_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("upload session", upload_id)
    return row


def _require_active(upload: MultipartUploadRow) -> None:
    status = wire_status(upload)
    if status == EXPIRED:
        raise UploadExpired(
            f"The upload session {upload.id!r} expired at {upload.expires_at:%Y-%m-%dT%H:%M:%SZ}. "
            "Create a new upload session."
        )
    if upload.status == COMPLETED:
        raise Conflict(f"The upload session {upload.id!r} is already completed.", code="upload_completed")
    if upload.status == FAILED:
        raise Conflict(f"The upload session {upload.id!r} failed. Create a new upload session.",
                       code="upload_failed")


def choose_chunk_size(platform: Platform, total_size: int) -> int:
    size = max(1, platform.settings.multipart_chunk_bytes)
    return max(size, math.ceil(total_size / MAX_CHUNKS))


def _clean_metadata(data: dict[str, Any] | None) -> dict[str, Any]:
    """On create, keys set to "", [] or null are omitted (reference B.6)."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameter("user_metadata", "It must be a JSON object.")
    kept = {k: v for k, v in data.items() if v is not None and v != "" and v != []}
    return assets.validate_user_metadata(kept, allow_null=False)


def create_upload(platform: Platform, tenant_id: str, *, filename: str | None, file_type: str | None,
                  total_size: int | None, user_metadata: dict[str, Any] | None = None
                  ) -> MultipartUploadRow:
    if not filename or not filename.strip():
        raise MissingParameter("filename")
    if not file_type:
        raise MissingParameter("type")
    if file_type not in UPLOAD_TYPES:
        raise InvalidParameter("type", f"Use one of {list(UPLOAD_TYPES)}.")
    if total_size is None:
        raise MissingParameter("total_size")
    if isinstance(total_size, bool) or not isinstance(total_size, int) or total_size < 1:
        raise InvalidParameter("total_size", "It must be a positive number of bytes.")
    limit = platform.settings.max_multipart_bytes
    if file_type == "image":
        limit = min(limit, MAX_IMAGE_BYTES)
    if total_size > limit:
        raise InvalidParameter(
            "total_size", f"Files of type {file_type} can be at most {limit} bytes.",
            code="file_too_large",
        )
    metadata = _clean_metadata(user_metadata)
    expire_stale(platform)
    chunk_size = choose_chunk_size(platform, total_size)
    with platform.store.session() as s:
        asset = assets.new_asset(s, tenant_id, method="multipart", filename=filename, file_type=file_type,
                                 user_metadata=metadata)
        upload = MultipartUploadRow(
            id=new_id(), tenant_id=tenant_id, asset_id=asset.id, filename=asset.filename or filename[:1000],
            file_type=file_type, total_size=total_size, chunk_size=chunk_size,
            total_chunks=math.ceil(total_size / chunk_size), status=ACTIVE,
            secret=secrets.token_hex(32), expires_at=utcnow() + SESSION_TTL,
        )
        s.add(upload)
        s.flush()
        return upload


def presigned_urls(platform: Platform, tenant_id: str, upload_id: str, *, start: int | None,
                   count: int | None, base_url: str) -> tuple[MultipartUploadRow, list[ChunkUrl]]:
    with platform.store.session() as s:
        upload = get_upload(s, tenant_id, upload_id)
    _require_active(upload)
    if start is None:
        raise MissingParameter("start")
    if count is None:
        raise MissingParameter("count")
    if not 1 <= start <= upload.total_chunks:
        raise InvalidParameter("start", f"Chunks are numbered 1 to {upload.total_chunks}.")
    if not 1 <= count <= MAX_URLS_PER_CALL:
        raise InvalidParameter("count", f"It must be between 1 and {MAX_URLS_PER_CALL}.")
    return upload, chunk_urls(platform, upload, base_url, start, count)


def list_incomplete(platform: Platform, tenant_id: str, page: PageRequest) -> Page[MultipartUploadRow]:
    query = (
        select(MultipartUploadRow)
        .where(MultipartUploadRow.tenant_id == tenant_id,
               MultipartUploadRow.status.in_((ACTIVE, COMPLETING, EXPIRED)))
        .order_by(MultipartUploadRow.created_at.desc(), MultipartUploadRow.id)
    )
    with platform.store.session() as s:
        return paginate(s, query, page)


def expire_stale(platform: Platform, limit: int = 100) -> int:
    """Mark sessions past their expiry as expired, fail their assets and drop their chunks."""
    now = utcnow()
    with platform.store.session() as s:
        stale = list(s.scalars(
            select(MultipartUploadRow)
            # `completing` too: an assembly that died with its process must not hold chunks forever.
            .where(MultipartUploadRow.status.in_((ACTIVE, COMPLETING)), MultipartUploadRow.expires_at <= now)
            .limit(limit)
        ))
        for upload in stale:
            upload.status = EXPIRED
            assets.mark_failed(s, upload.asset_id, "The multipart upload session expired before completion.")
        ids = [u.id for u in stale]
    for upload_id in ids:
        platform.blobs.delete_prefix(f"uploads/{upload_id}")
    return len(ids)


def finish_interrupted(platform: Platform, stale_before: datetime, limit: int = 20) -> int:
    """Assemble sessions left `completing` by a process that died mid-assembly (every chunk was
    reported, so the client considers the upload done and may never report again). A session is
    claimed with a compare-and-set on its `updated_at`, so a concurrent reporter or another
    process never assembles it twice. Returns how many were finished (or failed for good)."""
    with platform.store.session() as s:
        stale = list(s.execute(
            select(MultipartUploadRow.id, MultipartUploadRow.updated_at)
            .where(MultipartUploadRow.status == COMPLETING, MultipartUploadRow.updated_at < stale_before)
            .limit(limit)
        ).all())
    finished = 0
    for upload_id, seen in stale:
        with platform.store.session() as s:
            claimed = s.execute(
                update(MultipartUploadRow)
                .where(MultipartUploadRow.id == upload_id, MultipartUploadRow.status == COMPLETING,
                       MultipartUploadRow.updated_at == seen)
                .values(updated_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
        if claimed != 1:
            continue
        with contextlib.suppress(ServiceError):  # failed for good: `_assemble` marked the session and asset
            _assemble(platform, upload_id)
        finished += 1
    return finished


def upload_ids_for_asset(platform: Platform, asset_id: str) -> list[str]:
    with platform.store.session() as s:
        return list(s.scalars(select(MultipartUploadRow.id).where(MultipartUploadRow.asset_id == asset_id)))


def discard_chunks(platform: Platform, upload_ids: list[str]) -> None:
    """Drop the stored chunks of sessions whose asset is gone (the rows go with the asset)."""
    for upload_id in upload_ids:
        platform.blobs.delete_prefix(f"uploads/{upload_id}")


# --- chunks --------------------------------------------------------------------------------------


def authorize_chunk(platform: Platform, upload_id: str, chunk_index: int, expires: str | None,
                    sig: str | None) -> int:
    """Check a chunk URL's signature and the session; return the exact size the chunk must have."""
    if not expires or not sig:
        raise Forbidden("The chunk URL is not signed. Request upload URLs from the API.",
                        code="signature_invalid")
    with platform.store.session() as s:
        upload = s.get(MultipartUploadRow, upload_id) if is_id(upload_id) else None
    if upload is None:
        raise NotFound("upload session", upload_id)
    try:
        expires_at = int(expires)
    except ValueError as exc:
        raise Forbidden("The chunk URL signature is invalid.", code="signature_invalid") from exc
    if not hmac.compare_digest(_signature(platform, upload, chunk_index, expires_at), sig):
        raise Forbidden("The chunk URL signature is invalid.", code="signature_invalid")
    if expires_at < utcnow().timestamp():
        raise Forbidden("The chunk URL has expired. Request new URLs with the presigned-urls endpoint.",
                        code="url_expired")
    _require_active(upload)
    if upload.status != ACTIVE:
        raise Conflict(f"The upload session {upload.id!r} is being completed.", code="upload_completed")
    if not 1 <= chunk_index <= upload.total_chunks:  # a signed URL is always in range; belt and braces
        raise InvalidParameter("chunk_index", f"Chunks are numbered 1 to {upload.total_chunks}.")
    return expected_chunk_size(upload, chunk_index)


def store_chunk(platform: Platform, upload_id: str, chunk_index: int, stream: BinaryIO,
                expected_size: int) -> str:
    """Store one chunk's bytes (exactly `expected_size`) and return its ETag (md5 hex).

    The same chunk may arrive twice at once (a client retrying a PUT it thinks timed out). Each PUT
    streams into its own blob, then, with the session row locked, points the chunk's row at it and
    drops the blob it replaces: whichever PUT commits last wins whole, and the row's ETag always
    describes the bytes that will be assembled. A PUT that fails (wrong size, session gone or being
    completed) leaves the chunk as it was."""
    token = secrets.token_hex(8)
    key = chunk_blob_key(upload_id, chunk_index, token)
    try:
        size, etag = platform.blobs.put_stream(key, stream, max_bytes=expected_size)
    except BlobTooLarge as exc:
        raise PayloadTooLarge(
            f"Chunk {chunk_index} is larger than its expected size of {expected_size} bytes.",
            code="chunk_too_large",
        ) from exc
    try:
        if size != expected_size:
            raise InvalidParameter(
                "chunk", f"Chunk {chunk_index} has {size} bytes; it must have exactly {expected_size} bytes.",
                code="chunk_size_mismatch",
            )
        with platform.store.session(immediate=True) as s:
            upload = _locked_upload(s, upload_id)
            if upload is None:  # the asset (and with it the session) was deleted meanwhile
                raise NotFound("upload session", upload_id)
            _require_active(upload)
            if upload.status != ACTIVE:  # a report claimed the assembly while these bytes arrived
                raise Conflict(f"The upload session {upload.id!r} is being completed.", code="upload_completed")
            row = s.get(UploadChunkRow, (upload_id, chunk_index))
            if row is None:
                s.add(UploadChunkRow(upload_id=upload_id, chunk_index=chunk_index, size=size, etag=etag,
                                     blob_token=token))
                unused = None
            elif row.etag == etag and row.size == size:
                unused = key  # the same bytes again: the stored blob (and its report) stay
            else:
                unused = chunk_blob_key(upload_id, chunk_index, row.blob_token)
                row.etag, row.blob_token, row.size, row.reported = etag, token, size, False
                row.created_at = utcnow()
    except BaseException:
        platform.blobs.delete(key)  # no row names it: the transaction did not commit
        raise
    if unused is not None:  # named by no row now, and never again: tokens are not reused
        platform.blobs.delete(unused)
    return etag


# --- reporting and completion --------------------------------------------------------------------


@dataclass(frozen=True)
class ReportResult:
    asset_id: str
    url: str
    processed_chunks: int
    duplicate_chunks: int
    total_completed: int


def _parse_reported(raw: Any, total_chunks: int) -> list[tuple[int, str, int | None]]:
    if raw is None:
        raise MissingParameter("completed_chunks")
    if not isinstance(raw, list) or not raw:
        raise InvalidParameter("completed_chunks", "It must be a non-empty list.")
    parsed = []
    for item in raw:
        if not isinstance(item, dict):
            raise InvalidParameter("completed_chunks", "Each entry must be an object.")
        index = item.get("chunk_index")
        if isinstance(index, bool) or not isinstance(index, int):
            raise InvalidParameter("completed_chunks", "Each entry needs an integer chunk_index.")
        if not 1 <= index <= total_chunks:
            raise InvalidParameter("completed_chunks",
                                   f"chunk_index {index} is out of range; chunks are 1 to {total_chunks}.")
        proof = item.get("proof")
        if not isinstance(proof, str) or not proof:
            raise InvalidParameter("completed_chunks", f"Chunk {index} needs its ETag as proof.")
        proof_type = item.get("proof_type", "etag")
        if proof_type != "etag":
            raise InvalidParameter("completed_chunks", "proof_type must be etag.")
        size = item.get("chunk_size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
            raise InvalidParameter("completed_chunks", f"Chunk {index} has a non-integer chunk_size.")
        parsed.append((index, proof.strip().strip('"'), size))
    return parsed


def asset_url(base_url: str, asset_id: str) -> str:
    return f"{base_url.rstrip('/')}/v1.3/assets/{asset_id}"


def report_chunks(platform: Platform, tenant_id: str, upload_id: str, completed_chunks: Any, *,
                  base_url: str) -> ReportResult:
    # Under the session row's lock: a chunk PUT cannot swap a chunk between its proof being checked and
    # its being counted, nor after the assembly is claimed.
    with platform.store.session(immediate=True) as s:
        upload = get_upload(s, tenant_id, upload_id)
        s.refresh(upload, with_for_update=True)
        entries = _parse_reported(completed_chunks, upload.total_chunks)
        if upload.status == COMPLETED:
            # Reporting again after completion is harmless: everything is a duplicate.
            return ReportResult(upload.asset_id, asset_url(base_url, upload.asset_id), 0, len(entries),
                                upload.total_chunks)
        _require_active(upload)
        stored = {
            r.chunk_index: r for r in s.scalars(
                select(UploadChunkRow).where(UploadChunkRow.upload_id == upload.id,
                                             UploadChunkRow.chunk_index.in_([e[0] for e in entries]))
            )
        }
        # Validate the whole batch before changing anything.
        for index, proof, size in entries:
            row = stored.get(index)
            if row is None:
                raise InvalidParameter("completed_chunks", f"Chunk {index} has not been uploaded.",
                                       code="chunk_not_uploaded")
            if not hmac.compare_digest(row.etag, proof):
                raise InvalidParameter("completed_chunks",
                                       f"The proof of chunk {index} does not match the uploaded bytes.",
                                       code="chunk_proof_mismatch")
            if size is not None and size != row.size:
                raise InvalidParameter("completed_chunks",
                                       f"Chunk {index} was uploaded with {row.size} bytes, not {size}.",
                                       code="chunk_size_mismatch")
        processed = duplicates = 0
        seen: set[int] = set()
        for index, _proof, _size in entries:
            row = stored[index]
            if row.reported or index in seen:
                duplicates += 1
            else:
                row.reported = True
                processed += 1
            seen.add(index)
        s.flush()
        done = len(list(s.scalars(
            select(UploadChunkRow.chunk_index).where(UploadChunkRow.upload_id == upload.id,
                                                     UploadChunkRow.reported.is_(True))
        )))
        complete = done >= upload.total_chunks
        if complete:
            # Claim the assembly atomically, so that two concurrent reporters assemble only once.
            claimable = or_(
                MultipartUploadRow.status == ACTIVE,
                and_(MultipartUploadRow.status == COMPLETING,
                     MultipartUploadRow.updated_at < utcnow() - STALE_COMPLETING),
            )
            claimed = s.execute(
                update(MultipartUploadRow)
                .where(MultipartUploadRow.id == upload.id, claimable)
                .values(status=COMPLETING, updated_at=utcnow())
            ).rowcount  # type: ignore[attr-defined]
            complete = claimed == 1
        asset_id = upload.asset_id
    if not complete:
        return ReportResult(asset_id, "", processed, duplicates, done)
    _assemble(platform, upload_id)
    return ReportResult(asset_id, asset_url(base_url, asset_id), processed, duplicates, done)


def _assemble(platform: Platform, upload_id: str) -> None:
    with platform.store.session() as s:
        upload = s.get(MultipartUploadRow, upload_id)
        assert upload is not None
        total_chunks, total_size, asset_id = upload.total_chunks, upload.total_size, upload.asset_id
        stored = stored_chunk_keys(s, upload_id)  # fixed now: no chunk PUT changes a `completing` session
    try:
        parts = [stored[i] for i in range(1, total_chunks + 1)]
        size = platform.blobs.concat(assets.asset_blob_key(asset_id), parts)
    except (OSError, KeyError) as exc:
        log.exception("upload %s: the chunks could not be assembled", upload_id)  # names the server's paths
        _fail(platform, upload_id, "The chunks could not be assembled.")
        raise ServiceError("The uploaded chunks could not be assembled.", code="upload_failed",
                           status=500) from exc
    if size != total_size:
        platform.blobs.delete(assets.asset_blob_key(asset_id))
        _fail(platform, upload_id, f"The assembled file has {size} bytes, not the declared {total_size}.")
        raise InvalidParameter("total_size", f"The assembled file has {size} bytes, not {total_size}.",
                               code="upload_size_mismatch")
    with platform.store.session() as s:
        upload = s.get(MultipartUploadRow, upload_id)
        asset = s.get(AssetRow, asset_id)
        if upload is None or asset is None:  # deleted meanwhile
            platform.blobs.delete_prefix(f"uploads/{upload_id}")
            raise NotFound("upload session", upload_id)
        upload.status = COMPLETED
        assets.bytes_received(platform, s, asset, size)
    platform.blobs.delete_prefix(f"uploads/{upload_id}")


def _fail(platform: Platform, upload_id: str, message: str) -> None:
    with platform.store.session() as s:
        upload = s.get(MultipartUploadRow, upload_id)
        if upload is not None:
            upload.status = FAILED
            assets.mark_failed(s, upload.asset_id, message)
    platform.blobs.delete_prefix(f"uploads/{upload_id}")


# --- status --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChunkState:
    index: int
    status: str  # completed | pending
    uploaded_at: datetime | None


@dataclass(frozen=True)
class UploadStatus:
    upload: MultipartUploadRow
    status: str
    chunks: Page[ChunkState]
    chunks_completed: int
    chunks_pending: int
    uploaded_size: int


def get_status(platform: Platform, tenant_id: str, upload_id: str, page: PageRequest) -> UploadStatus:
    """Every chunk 1..N with its state, paged; `completed` means uploaded and reported."""
    with platform.store.session() as s:
        upload = get_upload(s, tenant_id, upload_id)
        rows = {r.chunk_index: r for r in s.scalars(
            select(UploadChunkRow).where(UploadChunkRow.upload_id == upload.id)
        )}
    finished = upload.status == COMPLETED
    completed = upload.total_chunks if finished else sum(1 for r in rows.values() if r.reported)
    uploaded_size = upload.total_size if finished else sum(r.size for r in rows.values() if r.reported)
    first = page.offset + 1
    last = min(upload.total_chunks, page.offset + page.page_limit)
    items = []
    for index in range(first, last + 1):
        row = rows.get(index)
        done = finished or (row is not None and row.reported)
        items.append(ChunkState(index, "completed" if done else "pending",
                                row.created_at if row is not None else None))
    return UploadStatus(
        upload=upload, status=wire_status(upload), chunks=Page(items, page, upload.total_chunks),
        chunks_completed=completed, chunks_pending=upload.total_chunks - completed,
        uploaded_size=uploaded_size,
    )
