"""Entity collections and entities (reference B.15-B.16), and entity search (`<@entity_id>` in a query).

An entity is a person or an object known by reference assets (images; a video asset contributes a few
sampled frames). Each reference is embedded once (job `entity_embed`, or lazily by search): see
`references.py`. Entity search (`matching.py`) compares those references with what ingest stored per sampled
frame and keeps the clips where the entity appears.

This module keeps the collections and entities; their typed inputs, built by the router, are in `inputs.py`.
Every name the package had as one module is importable from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from framedex.domain_errors import InvalidParameter, NotFound, ServiceError
from framedex.ids import is_id, new_id, utcnow
from framedex.services.entities.inputs import (
    MAX_ASSETS_PER_ENTITY,
    MAX_BULK,
    EntityInput,
    NewEntities,
    NewEntity,
    check_asset_ids,
    check_metadata,
    clean_name,
)
from framedex.services.entities.matching import (
    APPEARANCE_KEEP,
    ENTITY_TOKEN,
    FACE_FLOOR,
    FACE_MATCH,
    FEATURE_WEIGHT,
    JOINT_FLOOR,
    MAX_CANDIDATES,
    EntityClip,
    combine_with_entities,
    entity_clips,
    retrieve_entity_clips,
    split_entity_query,
)
from framedex.services.entities.references import (
    ENTITY_JOB,
    VIDEO_REFERENCE_FRAMES,
    ReferencePending,
    embed_reference,
    ensure_references,
    give_up_entity,
    job_handlers,
    run_entity_job,
)
from framedex.services.paging import Page, PageRequest, order_by_field, paginate, paginate_list
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow
from framedex.storage.tables_entities import EntityCollectionRow, EntityReferenceRow, EntityRow

__all__ = [
    "APPEARANCE_KEEP", "ENTITY_JOB", "ENTITY_TOKEN", "FACE_FLOOR", "FACE_MATCH", "FEATURE_WEIGHT", "JOINT_FLOOR",
    "MAX_ASSETS_PER_ENTITY", "MAX_BULK", "MAX_CANDIDATES", "SORT_FIELDS", "VIDEO_REFERENCE_FRAMES", "BulkFailure",
    "BulkResult", "EntityClip", "EntityInput", "NewEntities", "NewEntity", "ReferencePending", "add_assets",
    "combine_with_entities", "create_bulk", "create_collection", "create_entity", "delete_collection",
    "delete_entity", "embed_reference", "ensure_references", "entity_clips", "get_collection", "get_entity",
    "give_up_entity", "job_handlers", "list_by_asset", "list_collections", "list_entities", "remove_assets",
    "retrieve_collection", "retrieve_entity", "retrieve_entity_clips", "run_entity_job", "split_entity_query",
    "unlink_asset", "update_collection", "update_entity",
]

SORT_FIELDS = ("created_at", "updated_at", "name")


# --- collections --------------------------------------------------------------------------------


def _order(query: Any, model: Any, sort_by: str | None, sort_option: str | None) -> Any:
    return order_by_field(query, model, sort_by, sort_option, fields=SORT_FIELDS,
                          fields_hint=f"Use one of {list(SORT_FIELDS)}.")


def get_collection(session: Session, tenant_id: str, collection_id: str) -> EntityCollectionRow:
    row = session.get(EntityCollectionRow, collection_id) if is_id(collection_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("entity collection", collection_id)
    return row


def create_collection(platform: Platform, tenant_id: str, *, name: str | None,
                      description: str | None = None) -> EntityCollectionRow:
    row = EntityCollectionRow(id=new_id(), tenant_id=tenant_id, name=clean_name(name),
                              description=description if isinstance(description, str) else None)
    with platform.store.session() as s:
        s.add(row)
    return row


def list_collections(platform: Platform, tenant_id: str, page: PageRequest, *, name: str | None = None,
                     sort_by: str | None = None, sort_option: str | None = None) -> Page[EntityCollectionRow]:
    query = select(EntityCollectionRow).where(EntityCollectionRow.tenant_id == tenant_id)
    if name:
        query = query.where(EntityCollectionRow.name == name)
    with platform.store.session() as s:
        return paginate(s, _order(query, EntityCollectionRow, sort_by, sort_option), page)


def retrieve_collection(platform: Platform, tenant_id: str, collection_id: str) -> EntityCollectionRow:
    with platform.store.session() as s:
        return get_collection(s, tenant_id, collection_id)


def update_collection(platform: Platform, tenant_id: str, collection_id: str, *, name: str | None = None,
                      description: str | None = None) -> EntityCollectionRow:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, collection_id)
        if name is not None:
            row.name = clean_name(name)
        if description is not None:
            row.description = str(description)
        row.updated_at = utcnow()
        return row


def delete_collection(platform: Platform, tenant_id: str, collection_id: str) -> None:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, collection_id)
        ids = list(s.scalars(select(EntityRow.id).where(EntityRow.collection_id == row.id)))
        if ids:
            s.execute(delete(EntityReferenceRow).where(EntityReferenceRow.entity_id.in_(ids)))
            s.execute(delete(EntityRow).where(EntityRow.id.in_(ids)))
        s.delete(row)


# --- entities -----------------------------------------------------------------------------------


def get_entity(session: Session, tenant_id: str, entity_id: str, collection_id: str | None = None) -> EntityRow:
    row = session.get(EntityRow, entity_id) if is_id(entity_id) else None
    if row is None or row.tenant_id != tenant_id or (collection_id is not None and row.collection_id != collection_id):
        raise NotFound("entity", entity_id)
    return row


def _assets_exist(session: Session, tenant_id: str, asset_ids: list[str]) -> list[str]:
    for asset_id in asset_ids:
        asset = session.get(AssetRow, asset_id) if is_id(asset_id) else None
        if asset is None or asset.tenant_id != tenant_id:
            raise InvalidParameter("asset_ids", f"The asset {asset_id!r} does not exist.", code="asset_not_found")
        if asset.status == "failed":
            raise InvalidParameter("asset_ids", f"The asset {asset_id!r} failed processing.", code="asset_unavailable")
    return asset_ids


def _new_entity(session: Session, platform: Platform, tenant_id: str, collection_id: str,
                entity: EntityInput) -> EntityRow:
    row = EntityRow(id=new_id(), tenant_id=tenant_id, collection_id=collection_id, name=entity.name,
                    description=entity.description, meta=dict(entity.metadata),
                    asset_ids=_assets_exist(session, tenant_id, list(entity.asset_ids)), status="processing")
    session.add(row)
    platform.queue.enqueue(ENTITY_JOB, {"entity_id": row.id}, session=session)
    return row


def create_entity(platform: Platform, tenant_id: str, collection_id: str, new: NewEntity) -> EntityRow:
    """The entity, created in the collection (a 404 for a missing collection comes before its fields' errors)."""
    with platform.store.session() as s:
        get_collection(s, tenant_id, collection_id)
        return _new_entity(s, platform, tenant_id, collection_id, new.checked())


@dataclass(frozen=True)
class BulkFailure:
    """An entity of a bulk request that was not created: its index in the request, its name as sent (when a
    string) and why."""

    index: int
    name: str | None
    reason: str


@dataclass
class BulkResult:
    entities: list[EntityRow]
    errors: list[BulkFailure]


def create_bulk(platform: Platform, tenant_id: str, collection_id: str, new: NewEntities) -> BulkResult:
    """Each entity created on its own: one that fails is reported in `errors` and the others are created."""
    with platform.store.session() as s:
        get_collection(s, tenant_id, collection_id)
    result = BulkResult([], [])
    for i, item in enumerate(new.items):
        try:
            entity = item.checked()
            with platform.store.session() as s:
                result.entities.append(_new_entity(s, platform, tenant_id, collection_id, entity))
        except ServiceError as exc:
            result.errors.append(BulkFailure(i, item.sent_name, exc.message))
    return result


def list_entities(platform: Platform, tenant_id: str, collection_id: str, page: PageRequest, *,
                  name: str | None = None, status: str | None = None, sort_by: str | None = None,
                  sort_option: str | None = None) -> Page[EntityRow]:
    query = select(EntityRow).where(EntityRow.tenant_id == tenant_id, EntityRow.collection_id == collection_id)
    if name:
        query = query.where(EntityRow.name == name)
    if status:
        query = query.where(EntityRow.status == status)
    with platform.store.session() as s:
        get_collection(s, tenant_id, collection_id)
        return paginate(s, _order(query, EntityRow, sort_by, sort_option), page)


def list_by_asset(platform: Platform, tenant_id: str, asset_id: str, page: PageRequest) -> Page[EntityRow]:
    with platform.store.session() as s:
        from framedex.services.assets import get_asset

        get_asset(s, tenant_id, asset_id)
        rows = list(s.scalars(select(EntityRow).where(EntityRow.tenant_id == tenant_id)
                              .order_by(EntityRow.created_at.desc(), EntityRow.id)))
    # asset_ids is JSON: filter here rather than with dialect-specific JSON SQL.
    return paginate_list([r for r in rows if asset_id in (r.asset_ids or [])], page)


def retrieve_entity(platform: Platform, tenant_id: str, collection_id: str, entity_id: str) -> EntityRow:
    with platform.store.session() as s:
        return get_entity(s, tenant_id, entity_id, collection_id)


def update_entity(platform: Platform, tenant_id: str, collection_id: str, entity_id: str, *,
                  name: str | None = None, description: str | None = None,
                  metadata: dict[str, Any] | None = None) -> EntityRow:
    """Set the fields given (not None); `metadata` replaces the entity's, as documented."""
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        if name is not None:
            row.name = clean_name(name)
        if description is not None:
            row.description = str(description)
        if metadata is not None:
            row.meta = check_metadata(metadata)
        row.updated_at = utcnow()
        return row


def delete_entity(platform: Platform, tenant_id: str, collection_id: str, entity_id: str) -> None:
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        s.execute(delete(EntityReferenceRow).where(EntityReferenceRow.entity_id == row.id))
        s.delete(row)


def add_assets(platform: Platform, tenant_id: str, collection_id: str, entity_id: str,
               asset_ids: list[str] | None) -> EntityRow:
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        new = [a for a in _assets_exist(s, tenant_id, check_asset_ids(asset_ids)) if a not in row.asset_ids]
        if len(row.asset_ids) + len(new) > MAX_ASSETS_PER_ENTITY:
            raise InvalidParameter("asset_ids", f"An entity takes at most {MAX_ASSETS_PER_ENTITY} assets.")
        if new:
            row.asset_ids = [*row.asset_ids, *new]
            row.status = "processing"
            platform.queue.enqueue(ENTITY_JOB, {"entity_id": row.id}, session=s)
        row.updated_at = utcnow()
        return row


def remove_assets(platform: Platform, tenant_id: str, collection_id: str, entity_id: str,
                  asset_ids: list[str] | None) -> EntityRow:
    if not isinstance(asset_ids, list) or not asset_ids or not all(isinstance(a, str) for a in asset_ids):
        raise InvalidParameter("asset_ids", "It must be a non-empty array of asset ids.")
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        unknown = [a for a in asset_ids if a not in row.asset_ids]
        if unknown:
            raise InvalidParameter("asset_ids", f"The asset {unknown[0]!r} is not associated with this entity.")
        remaining = [a for a in row.asset_ids if a not in set(asset_ids)]
        if not remaining:
            raise InvalidParameter("asset_ids", "An entity must keep at least one asset.",
                                   code="entity_assets_required")
        row.asset_ids = remaining
        s.execute(delete(EntityReferenceRow).where(EntityReferenceRow.entity_id == row.id,
                                                   EntityReferenceRow.asset_id.in_(list(asset_ids))))
        row.updated_at = utcnow()
        return row


def unlink_asset(session: Session, tenant_id: str, asset_id: str) -> list[str]:
    """Drop a deleted asset from every entity of the tenant that lists it, with its reference vectors
    ("The platform unlinks any entity associations", `DELETE /assets/{id}`). Runs in the caller's
    session so that the asset and its associations go together. Returns the ids of the entities changed.
    An entity may be left with no assets: it stays, and matches nothing until assets are added."""
    # asset_ids is JSON: filter here rather than with dialect-specific JSON SQL.
    changed = [r for r in session.scalars(select(EntityRow).where(EntityRow.tenant_id == tenant_id))
               if asset_id in (r.asset_ids or [])]
    for row in changed:
        row.asset_ids = [a for a in row.asset_ids if a != asset_id]
        row.updated_at = utcnow()
    if changed:
        session.execute(delete(EntityReferenceRow).where(EntityReferenceRow.entity_id.in_([r.id for r in changed]),
                                                         EntityReferenceRow.asset_id == asset_id))
    return [r.id for r in changed]

