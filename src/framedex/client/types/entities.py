"""Entity collections and entities (``client.entity_collections``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .shared import Model


class EntityCollection(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Entity(Model):
    id: str | None = Field(default=None, alias="_id")
    entity_collection_id: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    asset_ids: list[str] | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class BulkEntity(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None
    status: str | None = None


class BulkEntityError(Model):
    entity_index: int | None = None
    entity_name: str | None = None
    error_reason: str | None = None


class BulkCreateEntityResponse(Model):
    success_count: int | None = None
    failed_count: int | None = None
    entities: list[BulkEntity] | None = None
    errors: list[BulkEntityError] | None = None
