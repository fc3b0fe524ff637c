# Generated from _async/resources/knowledge_collections.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.knowledge_store_item_collections`` (also ``client.knowledge_stores.item_collections``):
``/knowledge-stores/{id}/item-collections``."""

from __future__ import annotations

from collections.abc import Sequence

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import KnowledgeStoreItem, KnowledgeStoreItemCollection

from .._pagination import Pager
from ._base import Metadata, _Resource


class KnowledgeStoreItemCollections(_Resource):
    """``/knowledge-stores/{id}/item-collections``: named groups of a store's items."""

    def list(
        self,
        knowledge_store_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> Pager[KnowledgeStoreItemCollection]:
        params = {"page_limit": page_limit, "sort_by": sort_by, "sort_option": sort_option}
        return self._pager(
            path("knowledge-stores/{}/item-collections", knowledge_store_id),
            params,
            KnowledgeStoreItemCollection,
            page=page,
        )

    def create(
        self,
        knowledge_store_id: str,
        *,
        name: str,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStoreItemCollection:
        return self._http.model(
            "POST",
            path("knowledge-stores/{}/item-collections", knowledge_store_id),
            KnowledgeStoreItemCollection,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    def retrieve(self, knowledge_store_id: str, collection_id: str) -> KnowledgeStoreItemCollection:
        return self._http.model(
            "GET",
            path("knowledge-stores/{}/item-collections/{}", knowledge_store_id, collection_id),
            KnowledgeStoreItemCollection,
        )

    def update(
        self,
        knowledge_store_id: str,
        collection_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStoreItemCollection:
        """Change the given fields; ``metadata`` replaces the whole map (``{}`` clears it)."""
        return self._http.model(
            "PATCH",
            path("knowledge-stores/{}/item-collections/{}", knowledge_store_id, collection_id),
            KnowledgeStoreItemCollection,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    def delete(self, knowledge_store_id: str, collection_id: str) -> None:
        """Delete the collection (its items stay in the store)."""
        self._http.none(
            "DELETE", path("knowledge-stores/{}/item-collections/{}", knowledge_store_id, collection_id)
        )

    def list_items(
        self,
        knowledge_store_id: str,
        collection_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
    ) -> Pager[KnowledgeStoreItem]:
        return self._pager(
            path("knowledge-stores/{}/item-collections/{}/items", knowledge_store_id, collection_id),
            {"page_limit": page_limit},
            KnowledgeStoreItem,
            page=page,
        )

    def add_items(
        self, knowledge_store_id: str, collection_id: str, *, item_ids: Sequence[str]
    ) -> KnowledgeStoreItemCollection:
        """Add items of the store to the collection; returns the updated collection."""
        return self._http.model(
            "POST",
            path("knowledge-stores/{}/item-collections/{}/items/add", knowledge_store_id, collection_id),
            KnowledgeStoreItemCollection,
            json={"item_ids": list(item_ids)},
        )

    def remove_items(self, knowledge_store_id: str, collection_id: str, *, item_ids: Sequence[str]) -> None:
        self._http.none(
            "POST",
            path("knowledge-stores/{}/item-collections/{}/items/remove", knowledge_store_id, collection_id),
            json={"item_ids": list(item_ids)},
        )
