"""Wire schemas of entity collections and entities (reference B.15-B.16, Part C `Entity*`)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from framedex.api.schemas.common import WireModel
from framedex.ids import rfc3339
from framedex.storage.tables_entities import EntityCollectionRow, EntityRow


class EntityCollectionCreate(WireModel):
    name: str | None = None
    description: str | None = None


class EntityCollectionUpdate(WireModel):
    name: str | None = None
    description: str | None = None


class EntityCollection(WireModel):
    id: str = Field(serialization_alias="_id")
    name: str
    description: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def of(cls, row: EntityCollectionRow) -> EntityCollection:
        return cls(id=row.id, name=row.name, description=row.description, created_at=rfc3339(row.created_at),
                   updated_at=rfc3339(row.updated_at))


class EntityCreate(WireModel):
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    asset_ids: list[str] | None = None


class EntityUpdate(WireModel):
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None


class EntityBulkCreate(WireModel):
    entities: list[dict[str, Any]] | None = None


class EntityAssets(WireModel):
    asset_ids: list[str] | None = None


class Entity(WireModel):
    id: str = Field(serialization_alias="_id")
    entity_collection_id: str
    name: str
    description: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    asset_ids: list[str]
    status: str
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def of(cls, row: EntityRow) -> Entity:
        return cls(id=row.id, entity_collection_id=row.collection_id, name=row.name, description=row.description,
                   metadata=row.meta or {}, asset_ids=list(row.asset_ids or []), status=row.status,
                   created_at=rfc3339(row.created_at), updated_at=rfc3339(row.updated_at))


class BulkEntity(WireModel):
    id: str = Field(serialization_alias="_id")
    name: str
    status: str


class BulkError(WireModel):
    entity_index: int
    entity_name: str | None = None
    error_reason: str


class BulkCreateEntityResponse(WireModel):
    success_count: int
    failed_count: int
    entities: list[BulkEntity]
    errors: list[BulkError]
