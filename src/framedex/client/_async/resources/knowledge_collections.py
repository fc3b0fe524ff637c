"""``client.knowledge_store_item_collections`` (also ``client.knowledge_stores.item_collections``):
``/knowledge-stores/{id}/item-collections``."""

from __future__ import annotations

from collections.abc import Sequence

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import KnowledgeStoreItem, KnowledgeStoreItemCollection

from .._pagination import AsyncPager
from ._base import Metadata, _Resource


class AsyncKnowledgeStoreItemCollections(_Resource):
    """``/knowledge-stores/{id}/item-collections``: named groups of a store's items."""

    async def list(
        self,
        knowledge_store_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> AsyncPager[KnowledgeStoreItemCollection]:
        params = {"page_limit": page_limit, "sort_by": sort_by, "sort_option": sort_option}
        return await self._pager(
            path("knowledge-stores/{}/item-collections", knowledge_store_id),
            params,
            KnowledgeStoreItemCollection,
            page=page,
        )

    async def create(
        self,
        knowledge_store_id: str,
        *,
        name: str,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStoreItemCollection:
        return await self._http.model(
            "POST",
            path("knowledge-stores/{}/item-collections", knowledge_store_id),
            KnowledgeStoreItemCollection,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    async def retrieve(self, knowledge_store_id: str, collection_id: str) -> KnowledgeStoreItemCollection:
        return await self._http.model(
            "GET",
            path("knowledge-stores/{}/item-collections/{}", knowledge_store_id, collection_id),
            KnowledgeStoreItemCollection,
        )

    async def update(
        self,
        knowledge_store_id: str,
        collection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStoreItemCollection:
        """Change the given fields; ``metadata`` replaces the whole map (``{}`` clears it)."""
        return await self._http.model(
            "PATCH",
            path("knowledge-stores/{}/item-collections/{}", knowledge_store_id, collection_id),
            KnowledgeStoreItemCollection,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    async def delete(self, knowledge_store_id: str, collection_id: str) -> None:
        """Delete the collection (its items stay in the store)."""
        await self._http.none(
            "DELETE", path("knowledge-stores/{}/item-collections/{}", knowledge_store_id, collection_id)
        )

    async def list_items(
        self,
        knowledge_store_id: str,
        collection_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
    ) -> AsyncPager[KnowledgeStoreItem]:
        return await self._pager(
            path("knowledge-stores/{}/item-collections/{}/items", knowledge_store_id, collection_id),
            {"page_limit": page_limit},
            KnowledgeStoreItem,
            page=page,
        )

    async def add_items(
        self, knowledge_store_id: str, collection_id: str, *, item_ids: Sequence[str]
    ) -> KnowledgeStoreItemCollection:
        """Add items of the store to the collection; returns the updated collection."""
        return await self._http.model(
            "POST",
            path("knowledge-stores/{}/item-collections/{}/items/add", knowledge_store_id, collection_id),
            KnowledgeStoreItemCollection,
            json={"item_ids": list(item_ids)},
        )

    async def remove_items(self, knowledge_store_id: str, collection_id: str, *, item_ids: Sequence[str]) -> None:
        await self._http.none(
            "POST",
            path("knowledge-stores/{}/item-collections/{}/items/remove", knowledge_store_id, collection_id),
            json={"item_ids": list(item_ids)},
        )
