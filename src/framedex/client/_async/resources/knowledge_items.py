"""``client.knowledge_store_items`` (also ``client.knowledge_stores.items``): ``/knowledge-stores/{id}/items``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import KnowledgeStoreItem

from .._pagination import AsyncPager
from ._base import Metadata, StrOrList, _Resource

ITEM_FINAL_STATUSES = ("ready", "failed")


class AsyncKnowledgeStoreItems(_Resource):
    """``/knowledge-stores/{id}/items``: the video and image assets of a store."""

    async def list(
        self,
        knowledge_store_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        status: StrOrList | None = None,
    ) -> AsyncPager[KnowledgeStoreItem]:
        """The store's items; ``status`` is one status or several (``pending``, ``queued``, ``processing``,
        ``ready``, ``failed``)."""
        params = {"page_limit": page_limit, "sort_by": sort_by, "sort_option": sort_option, "status": status}
        return await self._pager(
            path("knowledge-stores/{}/items", knowledge_store_id), params, KnowledgeStoreItem, page=page
        )

    async def create(
        self,
        knowledge_store_id: str,
        *,
        asset_id: str,
        asset_type: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStoreItem:
        """Add an asset to the store (a video is indexed: poll :meth:`wait_for_ready`)."""
        return await self._http.model(
            "POST",
            path("knowledge-stores/{}/items", knowledge_store_id),
            KnowledgeStoreItem,
            json=json_body(asset_id=asset_id, asset_type=asset_type, metadata=metadata),
        )

    async def retrieve(self, knowledge_store_id: str, item_id: str) -> KnowledgeStoreItem:
        return await self._http.model(
            "GET", path("knowledge-stores/{}/items/{}", knowledge_store_id, item_id), KnowledgeStoreItem
        )

    async def delete(self, knowledge_store_id: str, item_id: str) -> None:
        await self._http.none("DELETE", path("knowledge-stores/{}/items/{}", knowledge_store_id, item_id))

    async def wait_for_ready(
        self,
        knowledge_store_id: str,
        item_id: str,
        *,
        sleep_interval: float = 2.0,
        callback: Callable[[KnowledgeStoreItem], Any] | None = None,
        timeout: float | None = None,
    ) -> KnowledgeStoreItem:
        """Poll until the item is ``ready`` or ``failed`` (not in the official SDK)."""
        return await self._poll(
            functools.partial(self.retrieve, knowledge_store_id, item_id),
            ITEM_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"knowledge store item {item_id}",
        )
