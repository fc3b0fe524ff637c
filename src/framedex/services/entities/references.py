"""Reference embeddings of entities (job `entity_embed`): each reference asset of an entity is embedded once,
by the job or lazily by entity search (`ensure_references`).

* `face`: the 128-d SFace vector of the largest face in the image (people);
* `appearance`: the pooled CNN feature of the whole image (objects, animals: image-to-frame similarity);
* `joint`: the joint-space embedding of the image (kept for explanations and future use).

A video asset contributes a few sampled frames.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from framedex.domain_errors import ServiceError
from framedex.ids import utcnow
from framedex.models.base import FloatArray, ImageArray
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow
from framedex.storage.tables_entities import EntityReferenceRow, EntityRow

log = logging.getLogger("framedex.entities")

ENTITY_JOB = "entity_embed"
VIDEO_REFERENCE_FRAMES = 5


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
