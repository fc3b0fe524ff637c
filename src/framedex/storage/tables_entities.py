"""ORM tables for embedding tasks (v1 `/embed/tasks`, v2 `/embed-v2/tasks`) and entities.

Imported by `storage.metadata.create_schema` so that `Base.metadata.create_all` creates them.
Large results (per-segment vectors) live in the blob store, not in these rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from framedex.storage.tables import ID, Base, Timestamps


class EmbedTaskRow(Timestamps, Base):
    """An asynchronous embedding task. `api` is `v1` (`/embed/tasks`) or `v2` (`/embed-v2/tasks`)."""

    __tablename__ = "embed_tasks"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    api: Mapped[str] = mapped_column(String(4))
    model_name: Mapped[str] = mapped_column(String(64))
    input_type: Mapped[str] = mapped_column(String(16))  # video | audio | image
    status: Mapped[str] = mapped_column(String(16), index=True)  # processing | ready | failed
    # The normalised request (media source, offsets, segmentation, options, scopes).
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Wire metadata of the result (duration, options, scopes, input_url/filename, ...).
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_key: Mapped[str | None] = mapped_column(String(300), nullable=True)  # bytes sent with the request
    result_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ix_embed_tasks_list", "tenant_id", "api", "created_at"),)


class EntityCollectionRow(Timestamps, Base):
    __tablename__ = "entity_collections"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class EntityRow(Timestamps, Base):
    """A person or object, known by reference assets (images)."""

    __tablename__ = "entities"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("entity_collections.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    asset_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="processing")  # processing | ready


class EntityReferenceRow(Base):
    """Vectors of one reference asset of an entity.

    kind `face`: the 128-d face embedding of the largest face in the image;
    `appearance`: the pooled CNN feature (image-to-frame similarity);
    `joint`: the joint-space (text/visual) embedding of the image;
    `none`: the asset was processed and gave nothing usable (kept so it is not retried forever).
    """

    __tablename__ = "entity_references"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entity_id: Mapped[str] = mapped_column(ForeignKey("entities.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(String(24), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    vector: Mapped[list[Any]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
