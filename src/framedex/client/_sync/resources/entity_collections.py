# Generated from _async/resources/entity_collections.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.entity_collections``: ``/entity-collections``."""

from __future__ import annotations

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import EntityCollection

from .._http import SyncHTTP
from .._pagination import Pager
from ._base import _Resource
from .entities import Entities


class EntityCollections(_Resource):
    """``/entity-collections``."""

    def __init__(self, http: SyncHTTP) -> None:
        super().__init__(http)
        self.entities = Entities(http)

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        name: str | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> Pager[EntityCollection]:
        params = {"page_limit": page_limit, "name": name, "sort_by": sort_by, "sort_option": sort_option}
        return self._pager("entity-collections", params, EntityCollection, page=page)

    def create(self, *, name: str, description: str | None = None) -> EntityCollection:
        return self._http.model(
            "POST", "entity-collections", EntityCollection, json=json_body(name=name, description=description)
        )

    def retrieve(self, entity_collection_id: str) -> EntityCollection:
        return self._http.model(
            "GET", path("entity-collections/{}", entity_collection_id), EntityCollection
        )

    def update(
        self, entity_collection_id: str, *, name: str | None = None, description: str | None = None
    ) -> EntityCollection:
        return self._http.model(
            "PATCH",
            path("entity-collections/{}", entity_collection_id),
            EntityCollection,
            json=json_body(name=name, description=description),
        )

    def delete(self, entity_collection_id: str) -> None:
        self._http.none("DELETE", path("entity-collections/{}", entity_collection_id))
