"""Entity search (`<@entity_id>` in a query): the clips an entity appears in.

Entity search compares an entity's reference vectors (`references.py`) with what ingest stored per sampled
frame: the `faces` space (one vector per detected face) when the entity has face references, else the
`visual_image` space (one CNN feature per frame). Scores become relevances in [0, 1] per clip; the search
service keeps only clips where every named entity appears and ranks them, boosted by the rest of the query.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select

from framedex.domain_errors import InvalidParameter
from framedex.ids import is_id
from framedex.models.base import FloatArray
from framedex.services.entities.references import ensure_references
from framedex.services.platform import Platform
from framedex.storage.tables import ClipRow
from framedex.storage.tables_entities import EntityReferenceRow, EntityRow
from framedex.storage.vectors import VectorIndex

log = logging.getLogger("framedex.entities")

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
