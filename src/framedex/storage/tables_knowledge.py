"""ORM tables for knowledge stores (reference B.17-B.19) and the `/responses` agent's sessions.

Registered on `Base.metadata` when imported; `services.knowledge_stores` and `services.responses` import
this module, and the API app imports those before the lifespan runs `create_schema`, so `create_all`
creates these tables too.

A knowledge store owns a hidden index (`index_id`): each item is the store's asset indexed into it, so
items are searched by the same machinery as any index (what is seen, said and written).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from framedex.ids import utcnow
from framedex.storage.tables import ID, Base, Timestamps
from framedex.storage.types import UTCDateTime


class KnowledgeStoreRow(Timestamps, Base):
    __tablename__ = "knowledge_stores"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The hidden index the store's items are indexed into (deleted with the store).
    index_id: Mapped[str] = mapped_column(String(24))


class KnowledgeStoreItemRow(Timestamps, Base):
    __tablename__ = "knowledge_store_items"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("knowledge_stores.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(String(24), index=True)
    asset_type: Mapped[str] = mapped_column(String(16))  # video | image
    # The indexed asset (video) of `asset_id` in the store's hidden index; its status is the item's.
    video_id: Mapped[str | None] = mapped_column(String(24), nullable=True, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class KnowledgeCollectionRow(Timestamps, Base):
    __tablename__ = "knowledge_store_collections"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    store_id: Mapped[str] = mapped_column(ForeignKey("knowledge_stores.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    item_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)


class KnowledgeSearchRow(Base):
    """A ranked knowledge-store search result kept for token paging until it expires (then 410)."""

    __tablename__ = "knowledge_store_searches"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    store_id: Mapped[str] = mapped_column(String(24))
    page_size: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[Any]] = mapped_column(JSON)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ResponseSessionRow(Base):
    """One `/responses` conversation: its scope and its last turns (bounded), until it expires.

    Kept in the metadata store, not in process memory, so any API replica can continue a session.
    """

    __tablename__ = "response_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    knowledge_store_id: Mapped[str] = mapped_column(String(24))
    turns: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    __table_args__ = (Index("ix_response_sessions_expiry", "tenant_id", "expires_at"),)
