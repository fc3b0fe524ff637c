"""HLS streams and representative thumbnails of assets: their state, the job that makes them, signed URLs.

Who asks for what:
* `enable_video_stream` on a task or an indexed asset → an HLS stream (and a thumbnail for its
  `hls.thumbnail_urls`) of the video's asset, requested once the video is validated, so the asset's
  bytes are local and the index job is already queued ahead of it (indexing's `ready` never waits).
* the index's `thumbnail` addon → a representative thumbnail of each video's asset.
* `enable_hls` / `enable_thumbnail` on `POST /assets` (default true, as the real API) and on multipart
  uploads (default false) → the same, once the asset is probed.

Renditions belong to the asset (one row per kind in `asset_renditions`): indexing an asset in three
indexes streams it once. Status: pending → processing → ready | error.

Audio-only files (an audio asset; `enable_hls` applies to "video and audio assets", reference B.5) get an
audio-only HLS rendition: AAC in MPEG-TS segments under the same playlist name. A thumbnail does not apply
to them, as it does not to text files: the request is dropped and the asset shows no `thumbnail` object,
rather than an `error` that says nothing. A task or indexed asset that failed before its stream was asked
for (indexing refuses a file without video) reports `hls.status` `ERROR`, not a `PROCESSING` that never ends.

A `<video>` element or hls.js cannot send an API key, so every file is served under a signed, expiring
prefix `/v1.3/streams/{asset_id}/{exp}/{sig}/`. The playlist names its segments relatively, so the
player resolves them under the same signed prefix, and a reverse proxy at FRAMEDEX_PUBLIC_URL needs
no rewriting. The signature is playback's HMAC (the data dir's signing key), over a stream-scoped name.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from framedex.domain_errors import NotFound
from framedex.ids import is_id, rfc3339, utcnow
from framedex.ingest import renditions
from framedex.jobs.queue import Job
from framedex.jobs.worker import JobHandler
from framedex.services import playback
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow, IndexedAssetRow, IndexRow
from framedex.storage.tables_streaming import RenditionRow

log = logging.getLogger("framedex.streaming")

RENDER_JOB = "asset_renditions"
HLS = "hls"
THUMBNAIL = "thumbnail"
KINDS = (THUMBNAIL, HLS)  # the thumbnail first: it takes a second, the stream takes longer

PLAYLIST = renditions.PLAYLIST_NAME
REPRESENTATIVE = "representative.jpg"
_FILE_NAME = re.compile(r"index\.m3u8|seg_\d{5}\.ts|representative\.jpg")
CONTENT_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".jpg": "image/jpeg"}
# The wire status of HlsObject (tasks, indexed assets) differs from AssetHls's (reference, HlsObject).
HLS_OBJECT_STATUS = {"pending": "PROCESSING", "processing": "PROCESSING", "ready": "COMPLETE", "error": "ERROR"}

# A rendition costs at most this much wall time and storage, whatever the upload.
MIN_TIMEOUT_SECONDS = 120.0
TIMEOUT_PER_MEDIA_SECOND = 2.0
MIN_BUDGET_BYTES = 64 * 1024**2
BUDGET_PER_SOURCE_BYTE = 3
MAX_BUDGET_BYTES = 8 * 1024**3


def hls_prefix(asset_id: str) -> str:
    return f"assets/{asset_id}/hls"


def thumbnail_blob_key(asset_id: str) -> str:
    return f"assets/{asset_id}/{REPRESENTATIVE}"


def _blob_key(asset_id: str, name: str) -> str:
    return thumbnail_blob_key(asset_id) if name == REPRESENTATIVE else f"{hls_prefix(asset_id)}/{name}"


# -- requests --

def request(session: Session, *, asset_id: str, tenant_id: str, kinds: Iterable[str]) -> list[str]:
    """Mark the kinds wanted for an asset (pending unless already there); returns those now pending.

    A rendition that failed is retried when asked for again (a new upload of the same asset cannot
    happen, but a new index with the thumbnail addon, or a retried task, may ask again)."""
    pending = []
    for kind in kinds:
        row = session.get(RenditionRow, (asset_id, kind))
        if row is None:
            session.add(RenditionRow(asset_id=asset_id, kind=kind, tenant_id=tenant_id, status="pending", meta={}))
        elif row.status == "error":
            row.status, row.error = "pending", None
        else:
            continue
        pending.append(kind)
    session.flush()
    return pending


def on_video_validated(session: Session, platform: Platform, video: IndexedAssetRow) -> None:
    """Hook for the validate job, inside its transaction, after the index job is queued."""
    kinds: list[str] = []
    if video.enable_video_stream:
        kinds += [HLS, THUMBNAIL]
    index = session.get(IndexRow, video.index_id)
    if index is not None and THUMBNAIL in (index.addons or []) and THUMBNAIL not in kinds:
        kinds.append(THUMBNAIL)
    if kinds and request(session, asset_id=video.asset_id, tenant_id=video.tenant_id, kinds=kinds):
        platform.queue.enqueue(RENDER_JOB, {"asset_id": video.asset_id}, session=session)


def request_for_asset(platform: Platform, tenant_id: str, asset_id: str, *, hls: bool, thumbnail: bool) -> None:
    """From `POST /assets` and multipart uploads. If the asset is already probed (a fast probe job can
    finish before this runs), queue the job now; otherwise `on_asset_ready` will."""
    kinds = [k for k, wanted in ((THUMBNAIL, thumbnail), (HLS, hls)) if wanted]
    if not kinds:
        return
    with platform.store.session() as s:
        asset = s.get(AssetRow, asset_id)
        if asset is None:
            return
        if asset.file_type == "image":
            kinds = [k for k in kinds if k != HLS]  # the real API ignores enable_hls for images
        elif asset.file_type == "audio":
            kinds = [k for k in kinds if k != THUMBNAIL]  # nothing to picture: as for text files
        if request(s, asset_id=asset_id, tenant_id=tenant_id, kinds=kinds) and asset.status == "ready":
            platform.queue.enqueue(RENDER_JOB, {"asset_id": asset_id}, session=s)


def on_asset_ready(platform: Platform, asset_id: str) -> None:
    """Hook for the asset probe job: queue renditions that were asked for before the bytes were here."""
    with platform.store.session() as s:
        waiting = s.execute(select(RenditionRow.kind).where(
            RenditionRow.asset_id == asset_id, RenditionRow.status == "pending")).first()
        if waiting is not None:
            platform.queue.enqueue(RENDER_JOB, {"asset_id": asset_id}, session=s)


# -- the job --

def _claim(platform: Platform, asset_id: str, kind: str, job_id: str) -> bool:
    """pending → processing for this job; a retry of the same job takes back its own `processing` row."""
    with platform.store.session() as s:
        row = s.get(RenditionRow, (asset_id, kind))
        if row is None:
            return False
        mine = row.status == "processing" and (row.meta or {}).get("job") == job_id
        if row.status != "pending" and not mine:
            return False
        row.status, row.error, row.meta = "processing", None, {**(row.meta or {}), "job": job_id}
        return True


def _finish(platform: Platform, asset_id: str, kind: str, *, error: str | None = None,
            meta: dict[str, Any] | None = None) -> None:
    with platform.store.session() as s:
        row = s.get(RenditionRow, (asset_id, kind))
        if row is None:
            return
        row.status = "error" if error else "ready"
        row.error = error
        row.meta = {k: v for k, v in {**(row.meta or {}), **(meta or {})}.items() if k != "job"}
        row.updated_at = utcnow()


def _make_thumbnail(platform: Platform, asset: AssetRow, path: Path) -> dict[str, Any]:
    meta = asset.system_metadata or {}
    if asset.file_type == "image":
        with Image.open(path) as picture:
            data = renditions.jpeg(np.asarray(picture.convert("RGB")))
        at = 0.0
    else:
        if not meta.get("has_video", True):
            raise renditions.RenditionError("The asset has no video track to take a thumbnail from.")
        data, at = renditions.representative_thumbnail(path, float(meta.get("duration") or 0.0))
    platform.blobs.put_bytes(thumbnail_blob_key(asset.id), data)
    return {"time": round(at, 3), "bytes": len(data)}


def _make_hls(platform: Platform, asset: AssetRow, path: Path) -> dict[str, Any]:
    meta = asset.system_metadata or {}
    has_video, has_audio = bool(meta.get("has_video", True)), bool(meta.get("has_audio"))
    duration = float(meta.get("duration") or 0.0)
    timeout = min(renditions.MAX_RENDITION_SECONDS, MIN_TIMEOUT_SECONDS + TIMEOUT_PER_MEDIA_SECOND * duration)
    budget = min(MAX_BUDGET_BYTES, max(MIN_BUDGET_BYTES, BUDGET_PER_SOURCE_BYTE * (asset.size or 0)))
    work = Path(tempfile.mkdtemp(prefix="framedex-hls-"))
    try:
        out = renditions.make_hls(path, work / "hls", has_audio=has_audio, has_video=has_video,
                                  timeout_seconds=timeout, max_bytes=budget)
        platform.blobs.delete_prefix(hls_prefix(asset.id))
        # Segments first, the playlist last: a reader who finds the playlist finds every segment it names.
        for segment in out.segments:
            with segment.open("rb") as f:
                platform.blobs.put_stream(f"{hls_prefix(asset.id)}/{segment.name}", f)
        platform.blobs.put_bytes(f"{hls_prefix(asset.id)}/{PLAYLIST}", out.playlist.read_bytes())
        return {"segments": len(out.segments), "bytes": out.total_bytes, "audio_only": not has_video}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def render(platform: Platform, job: Job) -> None:
    asset_id = job.payload["asset_id"]
    with platform.store.session() as s:
        asset = s.get(AssetRow, asset_id)
    if asset is None:
        return
    if asset.status == "failed" or not asset.blob_key or not platform.blobs.exists(asset.blob_key):
        give_up(platform, job, "The asset could not be processed.")
        return
    path = platform.blobs.local_path(asset.blob_key)
    if asset.file_type == "audio" or not (asset.system_metadata or {}).get("has_video", True):
        _drop(platform, asset_id, THUMBNAIL)  # asked for before the probe found no picture in the file
    makers = {THUMBNAIL: _make_thumbnail, HLS: _make_hls}
    for kind in KINDS:
        if not _claim(platform, asset_id, kind, job.id):
            continue
        started = time.monotonic()
        try:
            meta = makers[kind](platform, asset, path)
        except renditions.RenditionError as exc:
            log.info("asset %s: %s rendition failed: %s", asset_id, kind, exc)
            _finish(platform, asset_id, kind, error=str(exc))
            continue
        meta["seconds"] = round(time.monotonic() - started, 2)
        _finish(platform, asset_id, kind, meta=meta)


def _drop(platform: Platform, asset_id: str, kind: str) -> None:
    """Forget a request that does not apply to this asset (its object then stays off the wire)."""
    with platform.store.session() as s:
        row = s.get(RenditionRow, (asset_id, kind))
        if row is not None and row.status in ("pending", "error"):
            s.delete(row)


def give_up(platform: Platform, job: Job, reason: str) -> None:
    with platform.store.session() as s:
        for row in s.scalars(select(RenditionRow).where(RenditionRow.asset_id == job.payload["asset_id"],
                                                        RenditionRow.status.in_(("pending", "processing")))):
            row.status, row.error = "error", reason


def job_handlers(platform: Platform) -> dict[str, JobHandler]:
    return {RENDER_JOB: JobHandler(lambda job: render(platform, job), lambda job, why: give_up(platform, job, why))}


# -- signed URLs and the views on the wire --

def _signed_name(asset_id: str) -> str:
    # Playback signs "media:{id}:{exp}" for a 24-hex video id; this name can never be one.
    return f"stream-{asset_id}"


def signed_prefix(platform: Platform, base_url: str, asset_id: str, ttl: int = playback.DEFAULT_TTL_SECONDS,
                  now: float | None = None) -> str:
    """`{base}/v1.3/streams/{asset}/{exp}/{sig}/`. The expiry is rounded up to the hour, so a page that
    asks again within the hour gets the same URLs and the browser's cache keeps working."""
    t = int(now if now is not None else time.time())
    expires = (t + max(1, min(ttl, playback.MAX_TTL_SECONDS)) + 3599) // 3600 * 3600
    sig = playback.signature(platform, _signed_name(asset_id), expires)
    return f"{base_url.rstrip('/')}/v1.3/streams/{asset_id}/{expires}/{sig}/"


def states(platform: Platform, asset_ids: Iterable[str]) -> dict[tuple[str, str], RenditionRow]:
    ids = sorted(set(asset_ids))
    if not ids:
        return {}
    with platform.store.session() as s:
        rows = s.scalars(select(RenditionRow).where(RenditionRow.asset_id.in_(ids))).all()
    return {(r.asset_id, r.kind): r for r in rows}


def hls_object(platform: Platform, base_url: str, video: IndexedAssetRow,
               known: dict[tuple[str, str], RenditionRow] | None = None) -> dict[str, Any] | None:
    """`HlsObject{video_url, thumbnail_urls, status, updated_at}` for a task or an indexed asset, or None
    for a video uploaded without `enable_video_stream` (the real API omits the object then)."""
    if not video.enable_video_stream:
        return None
    rows = known if known is not None else states(platform, [video.asset_id])
    hls, thumb = rows.get((video.asset_id, HLS)), rows.get((video.asset_id, THUMBNAIL))
    # Refused before the stream was asked for (validation): no stream will ever come.
    status = hls.status if hls is not None else "error" if video.status == "failed" else "pending"
    out: dict[str, Any] = {"status": HLS_OBJECT_STATUS.get(status, "PROCESSING")}
    prefix = signed_prefix(platform, base_url, video.asset_id)
    if status == "ready":
        out["video_url"] = prefix + PLAYLIST
    out["thumbnail_urls"] = [prefix + REPRESENTATIVE] if thumb is not None and thumb.status == "ready" else []
    updated = hls.updated_at if hls is not None else video.updated_at
    out["updated_at"] = rfc3339(updated)
    return out


def asset_views(platform: Platform, base_url: str, asset_id: str,
                known: dict[tuple[str, str], RenditionRow] | None = None) -> dict[str, dict[str, Any]]:
    """`{"hls": AssetHls, "thumbnail": AssetThumbnail}` for what was requested of this asset."""
    rows = known if known is not None else states(platform, [asset_id])
    out: dict[str, dict[str, Any]] = {}
    hls, thumb = rows.get((asset_id, HLS)), rows.get((asset_id, THUMBNAIL))
    if hls is not None or thumb is not None:
        prefix = signed_prefix(platform, base_url, asset_id)
        if hls is not None:
            out["hls"] = {"status": hls.status, **({"manifest_url": prefix + PLAYLIST} if hls.status == "ready"
                                                  else {})}
        if thumb is not None:
            out["thumbnail"] = {"status": thumb.status,
                                **({"representative_url": prefix + REPRESENTATIVE} if thumb.status == "ready"
                                   else {})}
    return out


# -- serving --

@dataclass(frozen=True)
class StreamFile:
    key: str
    size: int
    content_type: str
    etag: str


def locate(platform: Platform, asset_id: str, expires: int, sig: str, name: str) -> StreamFile:
    """The blob behind a signed stream URL; 403 for a bad or expired signature, 404 for anything else."""
    if not is_id(asset_id):
        raise NotFound("stream", asset_id)
    playback.check_signature(platform, _signed_name(asset_id), expires, sig)
    if not _FILE_NAME.fullmatch(name):
        raise NotFound("stream file", name)
    key = _blob_key(asset_id, name)
    if not platform.blobs.exists(key):
        raise NotFound("stream file", name)
    size = platform.blobs.size(key)
    content_type = CONTENT_TYPES[Path(name).suffix]
    with platform.store.session() as s:
        row = s.get(RenditionRow, (asset_id, THUMBNAIL if name == REPRESENTATIVE else HLS))
        version = rfc3339(row.updated_at) if row is not None else ""
    # A re-render rewrites the files under the same names; the row's time tells the versions apart.
    etag = '"' + hashlib.sha256(f"{key}:{size}:{version}".encode()).hexdigest()[:24] + '"'
    return StreamFile(key, size, content_type, etag)
