# Generated from _async/resources/entities.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.entity_collections.entities``: ``/entity-collections/{id}/entities``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import BulkCreateEntityResponse, Entity

from .._pagination import Pager
from ._base import _Resource


class Entities(_Resource):
    """``/entity-collections/{id}/entities`` and ``/assets/{id}/entities``."""

    def list(
        self,
        entity_collection_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        name: str | None = None,
        status: str | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> Pager[Entity]:
        params = {
            "page_limit": page_limit,
            "name": name,
            "status": status,
            "sort_by": sort_by,
            "sort_option": sort_option,
        }
        return self._pager(
            path("entity-collections/{}/entities", entity_collection_id), params, Entity, page=page
        )

    def create(
        self,
        entity_collection_id: str,
        *,
        name: str,
        asset_ids: Sequence[str],
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Entity:
        body = json_body(name=name, description=description, metadata=metadata, asset_ids=list(asset_ids))
        return self._http.model(
            "POST", path("entity-collections/{}/entities", entity_collection_id), Entity, json=body
        )

    def create_bulk(
        self, entity_collection_id: str, *, entities: Sequence[Mapping[str, Any]]
    ) -> BulkCreateEntityResponse:
        return self._http.model(
            "POST",
            path("entity-collections/{}/entities/bulk", entity_collection_id),
            BulkCreateEntityResponse,
            json={"entities": list(entities)},
        )

    def retrieve(self, entity_collection_id: str, entity_id: str) -> Entity:
        return self._http.model(
            "GET", path("entity-collections/{}/entities/{}", entity_collection_id, entity_id), Entity
        )

    def update(
        self,
        entity_collection_id: str,
        entity_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Entity:
        return self._http.model(
            "PATCH",
            path("entity-collections/{}/entities/{}", entity_collection_id, entity_id),
            Entity,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    def delete(self, entity_collection_id: str, entity_id: str) -> None:
        self._http.none(
            "DELETE", path("entity-collections/{}/entities/{}", entity_collection_id, entity_id)
        )

    def create_assets(
        self, entity_collection_id: str, entity_id: str, *, asset_ids: Sequence[str]
    ) -> Entity:
        return self._http.model(
            "POST",
            path("entity-collections/{}/entities/{}/assets", entity_collection_id, entity_id),
            Entity,
            json={"asset_ids": list(asset_ids)},
        )

    def delete_assets(
        self, entity_collection_id: str, entity_id: str, *, asset_ids: Sequence[str]
    ) -> Entity:
        """``DELETE`` with a JSON body ``{"asset_ids": [...]}``; returns the updated entity."""
        return self._http.model(
            "DELETE",
            path("entity-collections/{}/entities/{}/assets", entity_collection_id, entity_id),
            Entity,
            json={"asset_ids": list(asset_ids)},
        )

    def list_by_asset(
        self, asset_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> Pager[Entity]:
        return self._pager(
            path("assets/{}/entities", asset_id), {"page_limit": page_limit}, Entity, page=page
        )
