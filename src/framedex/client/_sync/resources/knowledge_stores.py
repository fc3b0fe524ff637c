# Generated from _async/resources/knowledge_stores.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.knowledge_stores``: ``/knowledge-stores`` and ``POST /knowledge-stores/{id}/search``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import KnowledgeStore, SearchKnowledgeStoreResponse

from .._http import SyncHTTP
from .._pagination import KnowledgeStoreSearchPager, Pager
from ._base import Metadata, _Resource
from .knowledge_collections import KnowledgeStoreItemCollections
from .knowledge_items import KnowledgeStoreItems


class KnowledgeStores(_Resource):
    """``/knowledge-stores``. The official SDK has the items and item collections as
    ``client.knowledge_store_items`` and ``client.knowledge_store_item_collections``; the same resources are
    also reachable here as ``items`` and ``item_collections``."""

    def __init__(
        self,
        http: SyncHTTP,
        *,
        items: KnowledgeStoreItems | None = None,
        item_collections: KnowledgeStoreItemCollections | None = None,
    ) -> None:
        super().__init__(http)
        self.items = items if items is not None else KnowledgeStoreItems(http)
        self.item_collections = (
            item_collections if item_collections is not None else KnowledgeStoreItemCollections(http)
        )

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> Pager[KnowledgeStore]:
        params = {"page_limit": page_limit, "sort_by": sort_by, "sort_option": sort_option}
        return self._pager("knowledge-stores", params, KnowledgeStore, page=page)

    def create(
        self,
        *,
        name: str,
        ingestion_config: Mapping[str, Any] | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStore:
        body = json_body(name=name, ingestion_config=ingestion_config, description=description, metadata=metadata)
        return self._http.model("POST", "knowledge-stores", KnowledgeStore, json=body)

    def retrieve(self, knowledge_store_id: str) -> KnowledgeStore:
        return self._http.model("GET", path("knowledge-stores/{}", knowledge_store_id), KnowledgeStore)

    def update(
        self,
        knowledge_store_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Metadata | None = None,
    ) -> KnowledgeStore:
        """Change the given fields; ``metadata`` replaces the whole map (``{}`` clears it)."""
        return self._http.model(
            "PATCH",
            path("knowledge-stores/{}", knowledge_store_id),
            KnowledgeStore,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    def delete(self, knowledge_store_id: str) -> None:
        """Delete the store and all its items."""
        self._http.none("DELETE", path("knowledge-stores/{}", knowledge_store_id))

    def search(
        self,
        knowledge_store_id: str,
        *,
        query: Mapping[str, Any] | str | None = None,
        filter: Mapping[str, Any] | None = None,
        search_options: Mapping[str, Any] | None = None,
        group_by: str | None = None,
        page_size: int | None = None,
        page_token: str | None = None,
        include_metadata: bool | None = None,
    ) -> KnowledgeStoreSearchPager:
        """Search the store by text (``query={"text": ...}``, or the text itself).

        Returns the first page (or the page of ``page_token``) as a pager: ``data``, ``next_page_token`` and
        ``effective_search_options`` read as the SDK's ``SearchKnowledgeStoreResponse``; iterating over it
        yields every hit, following ``next_page_token`` (an expired token raises a 410 ``ApiError``).
        ``filter``: ``{"asset_type": {"eq": "video"}}``, ``{"item_id": {"in": [...]}}``; ``search_options``:
        ``{"video": {"modalities": ["visual", "audio"]}}``; ``group_by``: ``none`` or ``item``."""
        url = path("knowledge-stores/{}/search", knowledge_store_id)
        if isinstance(query, str):
            query = {"text": query}
        body = json_body(
            query=query,
            filter=filter,
            search_options=search_options,
            group_by=group_by,
            page_size=page_size,
            page_token=page_token,
            include_metadata=include_metadata,
        )
        first = self._http.model("POST", url, SearchKnowledgeStoreResponse, json=body)

        def fetch(token: str) -> SearchKnowledgeStoreResponse:
            more = json_body(page_token=token, include_metadata=include_metadata)
            return self._http.model("POST", url, SearchKnowledgeStoreResponse, json=more)

        return KnowledgeStoreSearchPager(fetch, first)
