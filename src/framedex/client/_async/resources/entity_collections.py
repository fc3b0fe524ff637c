"""``client.entity_collections``: ``/entity-collections``."""

from __future__ import annotations

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import EntityCollection

from .._http import AsyncHTTP
from .._pagination import AsyncPager
from ._base import _Resource
from .entities import AsyncEntities


class AsyncEntityCollections(_Resource):
    """``/entity-collections``."""

    def __init__(self, http: AsyncHTTP) -> None:
        super().__init__(http)
        self.entities = AsyncEntities(http)

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        name: str | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> AsyncPager[EntityCollection]:
        params = {"page_limit": page_limit, "name": name, "sort_by": sort_by, "sort_option": sort_option}
        return await self._pager("entity-collections", params, EntityCollection, page=page)

    async def create(self, *, name: str, description: str | None = None) -> EntityCollection:
        return await self._http.model(
            "POST", "entity-collections", EntityCollection, json=json_body(name=name, description=description)
        )

    async def retrieve(self, entity_collection_id: str) -> EntityCollection:
        return await self._http.model(
            "GET", path("entity-collections/{}", entity_collection_id), EntityCollection
        )

    async def update(
        self, entity_collection_id: str, *, name: str | None = None, description: str | None = None
    ) -> EntityCollection:
        return await self._http.model(
            "PATCH",
            path("entity-collections/{}", entity_collection_id),
            EntityCollection,
            json=json_body(name=name, description=description),
        )

    async def delete(self, entity_collection_id: str) -> None:
        await self._http.none("DELETE", path("entity-collections/{}", entity_collection_id))
