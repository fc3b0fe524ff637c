"""``client.indexes.indexed_assets``: ``/indexes/{index_id}/indexed-assets``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import TASK_FINAL_STATUSES, IndexedAsset, IndexedAssetCreateResponse, IndexedAssetSummary

from .._pagination import AsyncPager
from ._base import Metadata, Range, StrOrList, _Resource


class AsyncIndexedAssets(_Resource):
    """``/indexes/{index_id}/indexed-assets``: assets indexed into an index."""

    async def list(
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
    ) -> AsyncPager[IndexedAsset]:
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
        return await self._pager(path("indexes/{}/indexed-assets", index_id), params, IndexedAsset, page=page)

    async def create(
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
        return await self._http.model(
            "POST", path("indexes/{}/indexed-assets", index_id), IndexedAssetCreateResponse, json=body
        )

    async def retrieve(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        embedding_option: StrOrList | None = None,
        transcription: bool | None = None,
    ) -> IndexedAsset:
        return await self._http.model(
            "GET",
            path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id),
            IndexedAsset,
            params={"embedding_option": embedding_option, "transcription": transcription},
        )

    async def update(self, index_id: str, indexed_asset_id: str, *, user_metadata: Metadata) -> None:
        await self._http.none(
            "PATCH",
            path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id),
            json={"user_metadata": user_metadata},
        )

    async def delete(self, index_id: str, indexed_asset_id: str) -> None:
        await self._http.none("DELETE", path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id))

    async def list_by_asset(
        self, asset_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> AsyncPager[IndexedAssetSummary]:
        return await self._pager(
            path("assets/{}/indexed-assets", asset_id),
            {"page_limit": page_limit},
            IndexedAssetSummary,
            page=page,
        )

    async def wait_for_done(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[IndexedAsset], Any] | None = None,
        timeout: float | None = None,
    ) -> IndexedAsset:
        """Poll until the indexed asset is ``ready`` or ``failed``."""
        return await self._poll(
            functools.partial(self.retrieve, index_id, indexed_asset_id),
            TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"indexed asset {indexed_asset_id}",
        )
