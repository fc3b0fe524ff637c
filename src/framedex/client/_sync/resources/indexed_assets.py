# Generated from _async/resources/indexed_assets.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.indexes.indexed_assets``: ``/indexes/{index_id}/indexed-assets``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import TASK_FINAL_STATUSES, IndexedAsset, IndexedAssetCreateResponse, IndexedAssetSummary

from .._pagination import Pager
from ._base import Metadata, Range, StrOrList, _Resource


class IndexedAssets(_Resource):
    """``/indexes/{index_id}/indexed-assets``: assets indexed into an index."""

    def list(
        self,
        index_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        status: StrOrList | None = None,
        filename: str | None = None,
        duration: Range | None = None,
        fps: Range | None = None,
        width: Range | None = None,
        height: Range | None = None,
        size: Range | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
        user_metadata: Metadata | None = None,
    ) -> Pager[IndexedAsset]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "status": status,
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
        return self._pager(path("indexes/{}/indexed-assets", index_id), params, IndexedAsset, page=page)

    def create(
        self,
        index_id: str,
        *,
        asset_id: str,
        enable_video_stream: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> IndexedAssetCreateResponse:
        body = json_body(
            asset_id=asset_id, enable_video_stream=enable_video_stream, user_metadata=user_metadata
        )
        return self._http.model(
            "POST", path("indexes/{}/indexed-assets", index_id), IndexedAssetCreateResponse, json=body
        )

    def retrieve(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        embedding_option: StrOrList | None = None,
        transcription: bool | None = None,
    ) -> IndexedAsset:
        return self._http.model(
            "GET",
            path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id),
            IndexedAsset,
            params={"embedding_option": embedding_option, "transcription": transcription},
        )

    def update(self, index_id: str, indexed_asset_id: str, *, user_metadata: Metadata) -> None:
        self._http.none(
            "PATCH",
            path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id),
            json={"user_metadata": user_metadata},
        )

    def delete(self, index_id: str, indexed_asset_id: str) -> None:
        self._http.none("DELETE", path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id))

    def list_by_asset(
        self, asset_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> Pager[IndexedAssetSummary]:
        return self._pager(
            path("assets/{}/indexed-assets", asset_id),
            {"page_limit": page_limit},
            IndexedAssetSummary,
            page=page,
        )

    def wait_for_done(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[IndexedAsset], Any] | None = None,
        timeout: float | None = None,
    ) -> IndexedAsset:
        """Poll until the indexed asset is ``ready`` or ``failed``."""
        return self._poll(
            functools.partial(self.retrieve, index_id, indexed_asset_id),
            TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"indexed asset {indexed_asset_id}",
        )
