# Generated from _async/resources/videos.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.indexes.videos``: ``/indexes/{index_id}/videos``."""

from __future__ import annotations

from framedex.client._base import path
from framedex.client.types import Video

from .._pagination import Pager
from ._base import Metadata, Range, StrOrList, _Resource


class Videos(_Resource):
    """``/indexes/{index_id}/videos`` (the older name of indexed assets)."""

    def list(
        self,
        index_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        filename: str | None = None,
        duration: Range | None = None,
        fps: Range | None = None,
        width: Range | None = None,
        height: Range | None = None,
        size: Range | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
        user_metadata: Metadata | None = None,
    ) -> Pager[Video]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "filename": filename,
            "duration": duration,
            "fps": fps,
            "width": width,
            "height": height,
            "size": size,
            "created_at": created_at,
            "updated_at": updated_at,
            "user_metadata": user_metadata,
        }
        return self._pager(path("indexes/{}/videos", index_id), params, Video, page=page)

    def retrieve(
        self,
        index_id: str,
        video_id: str,
        *,
        embedding_option: StrOrList | None = None,
        transcription: bool | None = None,
    ) -> Video:
        return self._http.model(
            "GET",
            path("indexes/{}/videos/{}", index_id, video_id),
            Video,
            params={"embedding_option": embedding_option, "transcription": transcription},
        )

    def update(self, index_id: str, video_id: str, *, user_metadata: Metadata) -> None:
        self._http.none(
            "PATCH", path("indexes/{}/videos/{}", index_id, video_id), json={"user_metadata": user_metadata}
        )

    def delete(self, index_id: str, video_id: str) -> None:
        self._http.none("DELETE", path("indexes/{}/videos/{}", index_id, video_id))
