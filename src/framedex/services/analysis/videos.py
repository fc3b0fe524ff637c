"""The video an analysis request names: ``video_id`` (ready now), or ``video`` = ``asset_id`` | ``url`` |
``base64_string``, which becomes an asset indexed into the tenant's hidden ``framedex-analysis`` index and
is waited for.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import is_id
from framedex.services import assets as asset_service
from framedex.services.media import decode_base64
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, IndexRow

MAX_BASE64_BYTES = 30 * 1024 * 1024
ANALYSIS_INDEX_NAME = "framedex-analysis"
ANALYSIS_INDEX_MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


class VideoNotReady(ServiceError):
    code = "video_not_ready"


@dataclass(frozen=True)
class VideoRef:
    """A resolved video and how the request named it (for task responses)."""

    video_id: str
    index_id: str
    asset_id: str
    duration: float
    source: dict[str, Any]


def _ref(row: IndexedAssetRow, source: dict[str, Any]) -> VideoRef:
    return VideoRef(row.id, row.index_id, row.asset_id, float(row.duration or 0.0), source)


def _not_ready(row: IndexedAssetRow) -> ServiceError:
    if row.status == "failed":
        message = (row.error or {}).get("message", "indexing failed")
        return VideoNotReady(f"The video {row.id} failed indexing and cannot be analyzed: {message}")
    return VideoNotReady(f"The video {row.id} is not ready yet (status: {row.status}). Try again when it is ready.")


def get_ready_video(platform: Platform, tenant_id: str, video_id: Any) -> VideoRef:
    if not isinstance(video_id, str) or not video_id:
        raise MissingParameter("video_id")
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id) if is_id(video_id) else None
        if row is None or row.tenant_id != tenant_id:
            raise NotFound("video", video_id)
        if row.status != "ready":
            raise _not_ready(row)
        return _ref(row, {"type": "video_id", "video_id": row.id, "index_id": row.index_id})


def _analysis_index(platform: Platform, tenant_id: str) -> str:
    from framedex.services import indexes

    with platform.store.session() as s:
        row = s.scalars(select(IndexRow).where(IndexRow.tenant_id == tenant_id,
                                               IndexRow.name == ANALYSIS_INDEX_NAME)).first()
        if row is not None:
            return row.id
    try:
        return indexes.create(platform, tenant_id, name=ANALYSIS_INDEX_NAME, models=ANALYSIS_INDEX_MODELS,
                              hidden=True).id
    except ServiceError:  # created concurrently
        with platform.store.session() as s:
            row = s.scalars(select(IndexRow).where(IndexRow.tenant_id == tenant_id,
                                                   IndexRow.name == ANALYSIS_INDEX_NAME)).first()
            if row is None:
                raise
            return row.id


def _index_for_analysis(platform: Platform, tenant_id: str, asset_id: str) -> str:
    from framedex.services import videos

    index_id = _analysis_index(platform, tenant_id)
    return videos.index_asset(platform, tenant_id, index_id, asset_id).id


def _asset_video(platform: Platform, tenant_id: str, asset_id: str) -> tuple[IndexedAssetRow | None, bool]:
    """The best indexed video of an asset: (ready one, or newest pending one; whether any is pending)."""
    with platform.store.session() as s:
        asset_service.get_asset(s, tenant_id, asset_id)
        rows = list(s.scalars(select(IndexedAssetRow).where(IndexedAssetRow.asset_id == asset_id,
                                                            IndexedAssetRow.tenant_id == tenant_id)
                              .order_by(IndexedAssetRow.created_at.desc())))
    ready = [r for r in rows if r.status == "ready"]
    if ready:
        return ready[0], False
    pending = [r for r in rows if r.status != "failed"]
    if pending:
        return pending[0], True
    return (rows[0] if rows else None), False


def submit_video(platform: Platform, tenant_id: str, video: Any) -> tuple[str, dict[str, Any]]:
    """Make sure the ``video`` input is (being) indexed; return (video id, source description).
    Quick: downloads and indexing happen on the workers."""
    if not isinstance(video, dict):
        raise InvalidParameter("video", "It must be an object with a type of asset_id, url or base64_string.")
    kind = video.get("type")
    if kind is None:
        kind = next((k for k in ("asset_id", "url", "base64_string") if video.get(k)), None)
    if kind == "asset_id":
        asset_id = video.get("asset_id")
        if not isinstance(asset_id, str) or not asset_id:
            raise MissingParameter("video.asset_id")
        row, _pending = _asset_video(platform, tenant_id, asset_id)
        if row is None or row.status == "failed":
            with platform.store.session() as s:
                asset = asset_service.get_asset(s, tenant_id, asset_id)
                if asset.status == "failed":
                    raise ServiceError(f"The asset {asset_id} failed processing and cannot be analyzed.",
                                       code="asset_unavailable")
                if asset.file_type != "video":
                    raise InvalidParameter("video.asset_id", "The asset is not a video.")
            return _index_for_analysis(platform, tenant_id, asset_id), {"type": "asset_id", "asset_id": asset_id}
        return row.id, {"type": "asset_id", "asset_id": asset_id}
    if kind == "url":
        url = video.get("url")
        if not isinstance(url, str) or not url:
            raise MissingParameter("video.url")
        asset = asset_service.create_from_url(platform, tenant_id, url=url)
        return _index_for_analysis(platform, tenant_id, asset.id), {"type": "url", "url": url}
    if kind == "base64_string":
        raw = video.get("base64_string")
        if not isinstance(raw, str) or not raw:
            raise MissingParameter("video.base64_string")
        data = decode_base64(raw, "video.base64_string", MAX_BASE64_BYTES, pad=True, too_large=InvalidParameter(
            "video.base64_string", f"The decoded video exceeds {MAX_BASE64_BYTES} bytes."),
            invalid="It is not valid base64.", empty="It decodes to nothing.")
        asset = asset_service.create_direct(platform, tenant_id, stream=io.BytesIO(data), filename="video.mp4",
                                            max_bytes=MAX_BASE64_BYTES)
        return _index_for_analysis(platform, tenant_id, asset.id), {"type": "base64_string"}
    raise InvalidParameter("video.type", "Use asset_id, url or base64_string.")


def wait_ready(platform: Platform, tenant_id: str, video_id: str, source: dict[str, Any],
               timeout: float | None) -> VideoRef:
    """Wait until the video is ready; ``VideoNotReady`` when it failed or ``timeout`` passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.2
    while True:
        with platform.store.session() as s:
            row = s.get(IndexedAssetRow, video_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("video", video_id)
            if row.status == "ready":
                return _ref(row, source)
            if row.status == "failed":
                raise _not_ready(row)
            status = row.status
        if deadline is not None and time.monotonic() >= deadline:
            raise VideoNotReady(f"The video is still being processed (status: {status}); it was not ready "
                                f"within {timeout:.0f} s. Retry later, or use /analyze/tasks.")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def resolve_video(platform: Platform, tenant_id: str, *, video_id: Any = None, video: Any = None,
                  wait_seconds: float | None = None) -> VideoRef:
    """The ready video a request names. ``video_id`` must be ready now; ``video`` inputs are indexed
    if needed and waited for (``wait_seconds``; default ``settings.analyze_media_wait_seconds``)."""
    if video_id is not None and video is not None:
        raise InvalidParameter("video", "Give either video or video_id, not both.")
    if video_id is not None:
        return get_ready_video(platform, tenant_id, video_id)
    if video is None:
        raise MissingParameter("video")
    vid, source = submit_video(platform, tenant_id, video)
    timeout = platform.settings.analyze_media_wait_seconds if wait_seconds is None else wait_seconds
    return wait_ready(platform, tenant_id, vid, source, timeout)
