"""Entity collections and entities (reference B.15-B.16), and entity search (`<@entity_id>` in a query).

An entity is a person or an object known by reference assets (images; a video asset contributes a few
sampled frames). Each reference is embedded once (job `entity_embed`, or lazily by search):

* `face`: the 128-d SFace vector of the largest face in the image (people);
* `appearance`: the pooled CNN feature of the whole image (objects, animals: image-to-frame similarity);
* `joint`: the joint-space embedding of the image (kept for explanations and future use).

Entity search compares references with what ingest stored per sampled frame: the `faces` space
(one vector per detected face) when the entity has face references, else the `visual_image` space
(one CNN feature per frame). Scores become relevances in [0, 1] per clip; the search service keeps
only clips where every named entity appears and ranks them, boosted by the rest of the query.

Size (~600 lines): collections, entities, reference embedding (a job) and the entity match used by search
share one vector space and its thresholds; the reference-embedding job is the first candidate to split.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import is_id, new_id, utcnow
from framedex.models.base import FloatArray, ImageArray
from framedex.services.paging import Page, PageRequest, paginate, paginate_list
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow, ClipRow
from framedex.storage.tables_entities import EntityCollectionRow, EntityReferenceRow, EntityRow
from framedex.storage.vectors import VectorIndex

log = logging.getLogger("framedex.entities")

ENTITY_JOB = "entity_embed"
MAX_ASSETS_PER_ENTITY = 50
MAX_BULK = 100
SORT_FIELDS = ("created_at", "updated_at", "name")
ENTITY_TOKEN = re.compile(r"<@([A-Za-z0-9_\-]+)>")
# Face matching: SFace cosine >= 0.40 is "the same person" (DESIGN §5); down to FACE_FLOOR a hit is kept
# with a low relevance so that small or blurry faces still rank above clips without the person.
FACE_MATCH = 0.40
FACE_FLOOR = 0.25
# Appearance similarity has no absolute threshold; clips are ranked relative to the best clip of the
# index, above JOINT_FLOOR (joint-space cosine).
JOINT_FLOOR = 0.30
FEATURE_WEIGHT = 0.2
APPEARANCE_KEEP = 0.75
MAX_CANDIDATES = 1000
VIDEO_REFERENCE_FRAMES = 5


# --- collections --------------------------------------------------------------------------------


def _clean_name(name: Any, field: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter(field)
    if len(name) > 500:
        raise InvalidParameter(field, "It must be at most 500 characters.")
    return name.strip()


def _order(query: Any, model: Any, sort_by: str | None, sort_option: str | None) -> Any:
    sort_by = sort_by or "created_at"
    sort_option = sort_option or "desc"
    if sort_by not in SORT_FIELDS:
        raise InvalidParameter("sort_by", f"Use one of {list(SORT_FIELDS)}.")
    if sort_option not in ("asc", "desc"):
        raise InvalidParameter("sort_option", "Use asc or desc.")
    column = getattr(model, sort_by)
    return query.order_by(column.asc() if sort_option == "asc" else column.desc(), model.id)


def get_collection(session: Session, tenant_id: str, collection_id: str) -> EntityCollectionRow:
    row = session.get(EntityCollectionRow, collection_id) if is_id(collection_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("entity collection", collection_id)
    return row


def create_collection(platform: Platform, tenant_id: str, *, name: Any, description: Any = None) -> EntityCollectionRow:
    row = EntityCollectionRow(id=new_id(), tenant_id=tenant_id, name=_clean_name(name),
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


def update_collection(platform: Platform, tenant_id: str, collection_id: str, *, name: Any = None,
                      description: Any = None) -> EntityCollectionRow:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, collection_id)
        if name is not None:
            row.name = _clean_name(name)
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


def _metadata(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameter("metadata", "It must be an object.")
    for key, value in raw.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidParameter("metadata", f"The value of {key!r} must be a string, number or boolean.")
    return dict(raw)


def _asset_ids(session: Session, tenant_id: str, raw: Any, *, required: bool = True) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise InvalidParameter("asset_ids", "It must be an array of asset ids.")
    ids = list(dict.fromkeys(raw))
    if required and not ids:
        raise InvalidParameter("asset_ids", "Provide at least one asset id.")
    if len(ids) > MAX_ASSETS_PER_ENTITY:
        raise InvalidParameter("asset_ids", f"An entity takes at most {MAX_ASSETS_PER_ENTITY} assets.")
    for asset_id in ids:
        asset = session.get(AssetRow, asset_id) if is_id(asset_id) else None
        if asset is None or asset.tenant_id != tenant_id:
            raise InvalidParameter("asset_ids", f"The asset {asset_id!r} does not exist.", code="asset_not_found")
        if asset.status == "failed":
            raise InvalidParameter("asset_ids", f"The asset {asset_id!r} failed processing.", code="asset_unavailable")
    return ids


def _new_entity(session: Session, platform: Platform, tenant_id: str, collection_id: str,
                item: dict[str, Any]) -> EntityRow:
    row = EntityRow(id=new_id(), tenant_id=tenant_id, collection_id=collection_id, name=_clean_name(item.get("name")),
                    description=item.get("description") if isinstance(item.get("description"), str) else None,
                    meta=_metadata(item.get("metadata")),
                    asset_ids=_asset_ids(session, tenant_id, item.get("asset_ids")), status="processing")
    session.add(row)
    platform.queue.enqueue(ENTITY_JOB, {"entity_id": row.id}, session=session)
    return row


def create_entity(platform: Platform, tenant_id: str, collection_id: str, body: dict[str, Any]) -> EntityRow:
    with platform.store.session() as s:
        get_collection(s, tenant_id, collection_id)
        return _new_entity(s, platform, tenant_id, collection_id, body)


@dataclass
class BulkResult:
    entities: list[EntityRow]
    errors: list[dict[str, Any]]


def create_bulk(platform: Platform, tenant_id: str, collection_id: str, items: Any) -> BulkResult:
    if not isinstance(items, list) or not items:
        raise MissingParameter("entities")
    if len(items) > MAX_BULK:
        raise InvalidParameter("entities", f"At most {MAX_BULK} entities per request.")
    with platform.store.session() as s:
        get_collection(s, tenant_id, collection_id)
    result = BulkResult([], [])
    for i, item in enumerate(items):
        name = item.get("name") if isinstance(item, dict) else None
        try:
            if not isinstance(item, dict):
                raise InvalidParameter("entities", "Each entity must be an object.")
            with platform.store.session() as s:
                result.entities.append(_new_entity(s, platform, tenant_id, collection_id, item))
        except ServiceError as exc:
            result.errors.append({"entity_index": i, "entity_name": name if isinstance(name, str) else None,
                                  "error_reason": exc.message})
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


def update_entity(platform: Platform, tenant_id: str, collection_id: str, entity_id: str,
                  body: dict[str, Any]) -> EntityRow:
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        if body.get("name") is not None:
            row.name = _clean_name(body["name"])
        if body.get("description") is not None:
            row.description = str(body["description"])
        if body.get("metadata") is not None:
            row.meta = _metadata(body["metadata"])  # replaces, as documented
        row.updated_at = utcnow()
        return row


def delete_entity(platform: Platform, tenant_id: str, collection_id: str, entity_id: str) -> None:
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        s.execute(delete(EntityReferenceRow).where(EntityReferenceRow.entity_id == row.id))
        s.delete(row)


def add_assets(platform: Platform, tenant_id: str, collection_id: str, entity_id: str, asset_ids: Any) -> EntityRow:
    with platform.store.session() as s:
        row = get_entity(s, tenant_id, entity_id, collection_id)
        new = [a for a in _asset_ids(s, tenant_id, asset_ids) if a not in row.asset_ids]
        if len(row.asset_ids) + len(new) > MAX_ASSETS_PER_ENTITY:
            raise InvalidParameter("asset_ids", f"An entity takes at most {MAX_ASSETS_PER_ENTITY} assets.")
        if new:
            row.asset_ids = [*row.asset_ids, *new]
            row.status = "processing"
            platform.queue.enqueue(ENTITY_JOB, {"entity_id": row.id}, session=s)
        row.updated_at = utcnow()
        return row


def remove_assets(platform: Platform, tenant_id: str, collection_id: str, entity_id: str,
                  asset_ids: Any) -> EntityRow:
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


# --- reference embeddings -----------------------------------------------------------------------


class ReferencePending(Exception):
    """A reference asset's bytes are not there yet (a URL asset still downloading)."""


def _reference_images(platform: Platform, asset: AssetRow) -> list[ImageArray]:
    from framedex.services.assets import asset_blob_key
    from framedex.services.media import load_image

    key = asset.blob_key or asset_blob_key(asset.id)
    if not platform.blobs.exists(key):
        raise ReferencePending(asset.id)
    path = platform.blobs.local_path(key)
    try:
        return [load_image(path)]
    except ServiceError:
        pass
    # Not an image: a few frames of a video.
    from framedex.ingest.decode import sample_frames
    from framedex.ingest.probe import MediaRejected, probe

    try:
        info = probe(path)
    except MediaRejected:
        return []
    if not info.has_video or info.duration <= 0:
        return []
    times = [info.duration * (i + 0.5) / VIDEO_REFERENCE_FRAMES for i in range(VIDEO_REFERENCE_FRAMES)]
    return [f.image for f in sample_frames(path, times, max_side=1280)]


def embed_reference(platform: Platform, images: list[ImageArray]) -> list[tuple[str, FloatArray, dict[str, Any]]]:
    """(kind, vector, data) rows for reference images: the largest face of each image, its CNN feature
    and its joint-space embedding."""
    out: list[tuple[str, FloatArray, dict[str, Any]]] = []
    if not images:
        return out
    faces = platform.models.faces()
    for image in images:
        found = faces.faces(image)
        if found:
            best = max(found, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) * f.score)
            out.append(("face", np.asarray(best.embedding, dtype=np.float32),
                        {"box": [round(float(v), 4) for v in best.box], "score": round(float(best.score), 3),
                         "faces": len(found)}))
    for image, analysis in zip(images, platform.models.frames().analyze(images), strict=True):
        out.append(("appearance", np.asarray(analysis.tags.feature, dtype=np.float32),
                    {"labels": [lab.name for lab in analysis.tags.labels[:5]]}))
        out.append(("joint", np.asarray(analysis.embedding, dtype=np.float32), {"size": list(image.shape[:2])}))
    return out


def ensure_references(platform: Platform, entity_id: str) -> bool:
    """Embed every reference asset of the entity that has no vectors yet; mark it ready when all have.
    Returns True when the entity is complete."""
    with platform.store.session() as s:
        entity = s.get(EntityRow, entity_id)
        if entity is None:
            return True
        done = set(s.scalars(select(EntityReferenceRow.asset_id).where(EntityReferenceRow.entity_id == entity_id)))
        todo = [a for a in entity.asset_ids if a not in done]
        assets = {a.id: a for a in s.scalars(select(AssetRow).where(AssetRow.id.in_(todo)))} if todo else {}
    pending = False
    for asset_id in todo:
        asset = assets.get(asset_id)
        rows: list[EntityReferenceRow] = []
        if asset is None:
            rows = [EntityReferenceRow(entity_id=entity_id, asset_id=asset_id, kind="none", vector=[],
                                       data={"reason": "asset deleted"})]
        else:
            try:
                images = _reference_images(platform, asset)
            except ReferencePending:
                pending = True
                continue
            rows = [EntityReferenceRow(entity_id=entity_id, asset_id=asset_id, kind=kind,
                                       vector=[round(float(x), 6) for x in vec], data=data)
                    for kind, vec, data in embed_reference(platform, images)]
            if not rows:
                rows = [EntityReferenceRow(entity_id=entity_id, asset_id=asset_id, kind="none", vector=[],
                                           data={"reason": "not an image or video"})]
        with platform.store.session() as s:
            entity = s.get(EntityRow, entity_id)
            if entity is None or asset_id not in entity.asset_ids:
                continue
            s.execute(delete(EntityReferenceRow).where(EntityReferenceRow.entity_id == entity_id,
                                                       EntityReferenceRow.asset_id == asset_id))
            s.add_all(rows)
    if not pending:
        with platform.store.session() as s:
            entity = s.get(EntityRow, entity_id)
            if entity is not None and entity.status != "ready":
                entity.status = "ready"
                entity.updated_at = utcnow()
    return not pending


def run_entity_job(platform: Platform, entity_id: str) -> None:
    if not ensure_references(platform, entity_id):
        raise RuntimeError(f"reference assets of entity {entity_id} are not available yet")


def give_up_entity(platform: Platform, entity_id: str, reason: str) -> None:
    """Keep what could be embedded; the entity is usable with the references it has."""
    log.warning("entity %s: giving up on some reference assets: %s", entity_id, reason)
    with platform.store.session() as s:
        entity = s.get(EntityRow, entity_id)
        if entity is not None:
            entity.status = "ready"
            entity.updated_at = utcnow()


def job_handlers(platform: Platform) -> dict[str, Any]:
    """Job kinds of this module, for the worker (collected by `framedex.platform.job_handlers`)."""
    from framedex.jobs.worker import JobHandler

    return {ENTITY_JOB: JobHandler(lambda job: run_entity_job(platform, job.payload["entity_id"]),
                                   lambda job, reason: give_up_entity(platform, job.payload["entity_id"], reason))}


# --- entity search ------------------------------------------------------------------------------


def split_entity_query(query_text: str | None) -> tuple[list[str], str]:
    """`"<@id> is walking"` → (["id"], "is walking"). The remaining words go to the other modalities."""
    if not query_text:
        return [], query_text or ""
    ids = list(dict.fromkeys(ENTITY_TOKEN.findall(query_text)))
    rest = re.sub(r"\s+", " ", ENTITY_TOKEN.sub(" ", query_text)).strip()
    return ids, rest


@dataclass(frozen=True)
class EntityClip:
    video_id: str
    clip_seq: int
    start: float
    end: float
    relevance: float  # [0, 1]
    similarity: float  # the raw best similarity behind it
    kind: str  # face | appearance


def _references(platform: Platform, tenant_id: str, entity_id: str) -> dict[str, list[FloatArray]]:
    with platform.store.session() as s:
        entity = s.get(EntityRow, entity_id) if is_id(entity_id) else None
        if entity is None or entity.tenant_id != tenant_id:
            raise InvalidParameter("query_text", f"The entity {entity_id!r} in the query does not exist.",
                                   code="entity_not_found")
        have = set(s.scalars(select(EntityReferenceRow.asset_id).where(EntityReferenceRow.entity_id == entity_id)))
        complete = all(a in have for a in entity.asset_ids)
    if not complete:  # searched before its job ran: embed now (a few images)
        ensure_references(platform, entity_id)
    refs: dict[str, list[FloatArray]] = {}
    with platform.store.session() as s:
        for row in s.scalars(select(EntityReferenceRow).where(EntityReferenceRow.entity_id == entity_id)):
            if row.vector:
                refs.setdefault(row.kind, []).append(np.asarray(row.vector, dtype=np.float32))
    return refs


def _face_relevance(cos: float) -> float:
    if cos >= FACE_MATCH:
        return min(1.0, 0.6 + 0.4 * (cos - FACE_MATCH) / (0.75 - FACE_MATCH))
    return max(0.0, 0.4 + 0.2 * (cos - FACE_FLOOR) / (FACE_MATCH - FACE_FLOOR))


def _vectors(platform: Platform) -> VectorIndex:
    index: VectorIndex = getattr(platform, "vectors")  # noqa: B009  (wired by the platform)
    return index


def _best_per_clip(platform: Platform, tenant_id: str, index_id: str, space: str, queries: list[FloatArray],
                   video_ids: set[str], min_score: float) -> dict[tuple[str, int], tuple[float, float, float]]:
    """(video, clip) → (best cosine over all queries, start, end of the best vector)."""
    best: dict[tuple[str, int], tuple[float, float, float]] = {}
    for q in queries:
        try:
            hits = _vectors(platform).search(
                tenant_id=tenant_id, index_id=index_id, space=space, query=q, k=MAX_CANDIDATES,
                video_ids=video_ids, group="clip", min_score=min_score)
        except ValueError:  # the space holds vectors of another dimension (another model)
            log.warning("entity search: %s vectors do not match the reference dimension", space)
            continue
        for h in hits:
            key = (h.video_id, h.clip_seq)
            if key not in best or h.score > best[key][0]:
                best[key] = (float(h.score), h.start, h.end)
    return best


def _appearance_clips(platform: Platform, tenant_id: str, index_id: str, refs: dict[str, list[FloatArray]],
                      video_ids: set[str]) -> list[EntityClip]:
    joint = _best_per_clip(platform, tenant_id, index_id, "visual", refs.get("joint", []), video_ids,
                           JOINT_FLOOR) if refs.get("joint") else {}
    feature = _best_per_clip(platform, tenant_id, index_id, "visual_image", refs.get("appearance", []), video_ids,
                             0.0) if refs.get("appearance") else {}
    keys = set(joint) | (set(feature) if not joint else set())
    if not keys:
        return []
    scores: dict[tuple[str, int], tuple[float, float, float]] = {}
    for key in keys:
        j = joint.get(key)
        f = feature.get(key)
        score = (j[0] if j else 0.0) + FEATURE_WEIGHT * (f[0] if f else 0.0)
        span = j or f
        assert span is not None
        scores[key] = (score, span[1], span[2])
    top = max(v[0] for v in scores.values())
    # Relative: the best clip of the index gets 0.9; clips well below it (under APPEARANCE_KEEP of its
    # score) do not show the entity; the weakest kept one gets 0.4.
    cutoff = min(top, max(JOINT_FLOOR, APPEARANCE_KEEP * top))
    spread = max(top - cutoff, 1e-6)
    out = []
    for (video_id, seq), (score, start, end) in scores.items():
        if score >= cutoff:
            rel = 0.4 + 0.5 * (score - cutoff) / spread if spread > 1e-5 else 0.7
            out.append(EntityClip(video_id, seq, start, end, rel, score, "appearance"))
    return out


def entity_clips(platform: Platform, tenant_id: str, index_id: str, entity_id: str,
                 video_ids: set[str]) -> list[EntityClip]:
    """Clips of `video_ids` where the entity appears, best first."""
    if not video_ids:
        return []
    refs = _references(platform, tenant_id, entity_id)
    by_clip: dict[tuple[str, int], EntityClip] = {}
    if refs.get("face"):
        found = _best_per_clip(platform, tenant_id, index_id, "faces", refs["face"], video_ids, FACE_FLOOR)
        by_clip = {(v, seq): EntityClip(v, seq, start, end, _face_relevance(cos), cos, "face")
                   for (v, seq), (cos, start, end) in found.items()}
    # Faces decide when some clip matches clearly; otherwise (objects, animals, faces never seen clearly)
    # the look of the whole reference image ranks the clips: mostly its joint-space (what is in it)
    # embedding against the frames' (`visual`), plus a little of the CNN feature (`visual_image`),
    # which tells instances of a category apart but is a weak signal on its own.
    if not any(c.similarity >= FACE_MATCH for c in by_clip.values()):
        for clip in _appearance_clips(platform, tenant_id, index_id, refs, video_ids):
            key = (clip.video_id, clip.clip_seq)
            if key not in by_clip or by_clip[key].relevance < clip.relevance:
                by_clip[key] = clip
    out = sorted(by_clip.values(), key=lambda c: (-c.relevance, c.video_id, c.start))
    return out


def retrieve_entity_clips(platform: Platform, tenant_id: str, request: Any, video_ids: set[str],
                          entity_ids: list[str]) -> list[dict[str, Any]]:
    """Clips (as clip spans) where every entity of the query appears, with relevance = the weakest entity's.

    Returns dicts shaped like `services.search._fuse` results: video_id, start, end, modalities
    ({"visual": relevance}), transcription (None), relevance.
    """
    per_entity: list[dict[tuple[str, int], EntityClip]] = []
    for entity_id in entity_ids:
        per_entity.append({(c.video_id, c.clip_seq): c
                           for c in entity_clips(platform, tenant_id, request.index_id, entity_id, video_ids)})
    if not per_entity:
        return []
    keys = set(per_entity[0])
    for found in per_entity[1:]:
        keys &= set(found)
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    if keys:
        with platform.store.session() as s:
            for clip in s.scalars(select(ClipRow).where(ClipRow.index_id == request.index_id,
                                                        ClipRow.video_id.in_({v for v, _ in keys}))):
                spans[(clip.video_id, clip.seq)] = (clip.start, clip.end)
    results: list[dict[str, Any]] = []
    for key in keys:
        clips = [found[key] for found in per_entity]
        relevance = min(c.relevance for c in clips)
        start, end = spans.get(key, (clips[0].start, clips[0].end))
        results.append({"video_id": key[0], "start": start, "end": end, "modalities": {"visual": relevance},
                        "transcription": None, "relevance": relevance, "entity_similarity":
                        round(min(c.similarity for c in clips), 4)})
    results.sort(key=lambda r: (-r["relevance"], r["video_id"], r["start"]))
    return results


def combine_with_entities(entity_results: list[dict[str, Any]], other_results: list[dict[str, Any]],
                          *, has_rest: bool, rest_weight: float = 0.5) -> list[dict[str, Any]]:
    """Restrict to clips where the entities appear; boost them by the rest of the query.

    `other_results` are the fused results of the remaining words (same dict shape). A clip's boost is the
    best relevance of any other result of the same video overlapping it in time. Without remaining
    words the entity relevance is the ranking.
    """
    if not has_rest:
        return entity_results
    by_video: dict[str, list[dict[str, Any]]] = {}
    for r in other_results:
        by_video.setdefault(r["video_id"], []).append(r)
    out: list[dict[str, Any]] = []
    for e in entity_results:
        overlap = [r for r in by_video.get(e["video_id"], []) if r["start"] < e["end"] and e["start"] < r["end"]]
        boost = max((float(r["relevance"]) for r in overlap), default=0.0)
        merged = dict(e)
        merged["modalities"] = dict(e["modalities"])
        for r in overlap:
            for modality, value in r["modalities"].items():
                merged["modalities"][modality] = max(merged["modalities"].get(modality, 0.0), value)
            if r.get("transcription") and not merged.get("transcription"):
                merged["transcription"] = r["transcription"]
        # A boost raises the clip towards 1 and never lowers it below its entity relevance.
        merged["relevance"] = float(e["relevance"]) + rest_weight * boost * (1.0 - float(e["relevance"]))
        out.append(merged)
    out.sort(key=lambda r: (-r["relevance"], r["video_id"], r["start"]))
    return out
