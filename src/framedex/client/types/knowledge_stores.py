"""Knowledge stores, their items and item collections, and knowledge-store search
(``client.knowledge_stores``, ``client.knowledge_store_items``, ``client.knowledge_store_item_collections``).

Names follow the Twelve Labs SDK 1.3.6 (``KnowledgeStore``, ``SearchKnowledgeStoreResponse``, ...). Metadata
values are strings, numbers, booleans or lists of strings; they are kept as plain JSON values here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

from pydantic import Field

from .shared import Model

KnowledgeStoreMetadata: TypeAlias = dict[str, Any]


class KnowledgeStore(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None
    description: str | None = None
    ingestion_config: dict[str, Any] | None = None
    item_count: int | None = None
    metadata: KnowledgeStoreMetadata | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class KnowledgeStoreItemSystemMetadata(Model):
    """What the server measured on the item's asset (``duration`` and ``fps`` for videos only)."""

    asset_type: str | None = None
    filename: str | None = None
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    codec_name: str | None = None
    size: int | None = None


class KnowledgeStoreItem(Model):
    """An asset added to a store; ``status`` is ``pending``, ``queued``, ``processing``, ``ready`` or ``failed``."""

    id: str | None = Field(default=None, alias="_id")
    asset_type: str | None = None
    asset_id: str | None = None
    status: str | None = None
    system_metadata: KnowledgeStoreItemSystemMetadata | None = None
    metadata: KnowledgeStoreMetadata | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class KnowledgeStoreItemCollection(Model):
    id: str | None = Field(default=None, alias="_id")
    knowledge_store_id: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: KnowledgeStoreMetadata | None = None
    member_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class VideoMatch(Model):
    """One matching clip of a video item."""

    start_sec: float | None = None
    end_sec: float | None = None
    modalities: list[str] | None = None
    transcription: str | None = None


class SearchKnowledgeStoreItemMetadata(Model):
    """``system``: measured properties (duration, width, ...); ``user``: the item's own metadata."""

    system: dict[str, Any] | None = None
    user: KnowledgeStoreMetadata | None = None


class SearchKnowledgeStoreHit(Model):
    """A result: a video item with its matching clips (``matches``), or an image item."""

    asset_type: str | None = None
    rank: int | None = None
    item_id: str | None = None
    metadata: SearchKnowledgeStoreItemMetadata | None = None
    matches: list[VideoMatch] | None = None


class SearchKnowledgeStoreResponse(Model):
    """One page of a knowledge-store search; ``next_page_token`` is absent on the last page."""

    data: list[SearchKnowledgeStoreHit] | None = None
    next_page_token: str | None = None
    effective_search_options: dict[str, Any] | None = None
