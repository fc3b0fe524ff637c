"""Per-modality retrievers. Each *source* finds candidate clips for a query and describes each with a few raw
features (cosines, label matches, lexical coverage); `search_calibration` maps a source's features to a
probability that the clip is relevant, and `search.fuse` combines sources and modalities.

Sources (modality → source):

* ``transcription`` → ``transcript_lexical`` (SQLite FTS5 BM25 over transcript segments, then phrase-aware
  coverage), ``transcript_semantic`` (MiniLM sentence vectors of the segments, ANN);
* ``visual`` → ``frames`` (ANN over the frames' joint-space vectors with the raw and the label-expanded query,
  re-scored with the frames' stored labels/objects/attributes), ``ocr`` (fuzzy and phrase matching of on-screen
  text lines and blocks found by their sentence vectors and by substring), ``image`` (query images: CNN-feature
  ANN for the same picture, joint-space ANN for the same content);
* ``audio`` → ``sounds`` (ANN over the clips' sound vectors with the raw and expanded query, re-scored with the
  stored AudioSet tags).

Every vector search is restricted to the ready, filter-passing videos (`video_ids`) and runs in the index's
per-space ANN collections (`platform.vectors`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from sqlalchemy import select

from framedex.models.base import FloatArray, FrameAnalysis, ImageArray
from framedex.services.platform import Platform
from framedex.services.search import cache as search_cache
from framedex.services.search import text as search_text
from framedex.services.search.expand import LabelSpace, audio_labels, visual_labels
from framedex.storage.tables import SpeechSegmentRow

log = logging.getLogger("framedex.search")

CANDIDATES = 200  # clips per source and query vector
OCR_SCAN_LIMIT = 2000  # substring matches of OCR lines read per query word
OCR_LEXICAL_KEEP = 100  # lexical OCR candidates kept (the best matching), each embedded at query time


@dataclass
class Candidate:
    video_id: str
    clip_seq: int | None  # None: placed into a clip by its time span
    start: float
    end: float
    modality: str  # visual | audio | transcription
    source: str
    features: dict[str, float]
    transcription: str | None = None
    relevance: float = 0.0  # set by calibration


@dataclass
class QueryContext:
    platform: Platform
    tenant_id: str
    index_id: str
    text: str | None
    images: list[ImageArray]
    video_ids: set[str] | frozenset[str]
    transcription_options: list[str] = field(default_factory=lambda: ["lexical", "semantic"])
    ready: search_cache.ReadyVideos | None = None  # the index's ready videos, when the caller has them

    @cached_property
    def ready_videos(self) -> search_cache.ReadyVideos:
        if self.ready is None:
            self.ready = search_cache.ready_videos(self.platform, self.tenant_id, self.index_id)
        return self.ready

    def _embed(self, texts: list[str], *, vision: bool = False) -> FloatArray:
        """Text vectors through the per-platform memo (`search_cache.embed_texts`)."""
        models = self.platform.models
        text = models.text()
        if vision:
            encoder = models.vision()
            # a ConSE joint space over this text model ("conse(tagger->text)") embeds text with it
            if not (encoder.name.startswith("conse") and encoder.name.endswith(f"->{text.name})")):
                return search_cache.embed_texts(self.platform, ("vision", encoder.name), encoder.embed_text, texts)
        return search_cache.embed_texts(self.platform, ("text", text.name), text.embed, texts)

    @cached_property
    def text_vector(self) -> FloatArray:
        return self._embed([self.text or ""])[0]

    @cached_property
    def vision_text_vector(self) -> FloatArray:
        return self._embed([self.text or ""], vision=True)[0]

    @cached_property
    def content_words(self) -> list[str]:
        words = [w for w in search_text.tokens(self.text or "") if w not in search_text.STOP_WORDS and len(w) > 1]
        return list(dict.fromkeys(words))

    @cached_property
    def word_vectors(self) -> FloatArray:
        """Text vectors of the query's content words (for per-word label expansion)."""
        if len(self.content_words) < 2:
            return np.zeros((0, self.text_vector.shape[0]), dtype=np.float32)
        return self._embed(self.content_words)

    @cached_property
    def image_analyses(self) -> list[FrameAnalysis]:
        return self.platform.models.frames().analyze(self.images) if self.images else []

    def search(self, space: str, query: FloatArray, k: int = CANDIDATES, group: str = "clip") -> list[Any]:
        return self.search_many(space, [query], k, group)[0]

    def search_many(self, space: str, queries: list[FloatArray], k: int = CANDIDATES,
                    group: str = "clip") -> list[list[Any]]:
        try:
            return self.platform.vectors.search_many(tenant_id=self.tenant_id, index_id=self.index_id, space=space,
                                                     queries=queries, k=k, video_ids=self.video_ids,
                                                     group=group)  # type: ignore[arg-type]
        except ValueError:  # vectors of another model (dimension) in this index
            log.warning("search: the %s space of index %s does not match the query encoder", space, self.index_id)
            return [[] for _ in queries]


def decode_images(images: list[bytes]) -> list[ImageArray]:
    """Query pictures, at most 1024 px a side; an image bomb is refused from its header (400)."""
    from framedex.services.media import decode_image

    return [decode_image(data, "query_media_file", max_side=1024) for data in images]


def label_relevance(space: LabelSpace, ctx: QueryContext) -> dict[str, float]:
    """Label relevance of the whole query, and (weaker) of each of its content words."""
    rel = space.relevance(ctx.text_vector)
    for vec in ctx.word_vectors:
        for name, value in space.relevance(vec).items():
            rel[name] = max(rel.get(name, 0.0), 0.8 * value)
    return rel


# --- transcription ---------------------------------------------------------------------------------------


def transcript_lexical(ctx: QueryContext) -> list[Candidate]:
    """FTS5 hits (segments), re-scored by phrase-aware coverage and pointed at the words that were said: the
    best window of words in the segment and its neighbours (a phrase may run across a segment boundary)."""
    query = ctx.text or ""
    filtered = len(ctx.video_ids) < len(ctx.ready_videos.ids)  # over-fetch: hits outside the filter are dropped
    with ctx.platform.store.session() as s:
        hits = ctx.platform.lexical.search(s, tenant_id=ctx.tenant_id, index_id=ctx.index_id, query=query,
                                           limit=CANDIDATES * (4 if filtered else 1), common=search_text.STOP_WORDS)
        hits = [h for h in hits if h.video_id in ctx.video_ids][:CANDIDATES]
        if not hits:
            return []
        segments = {r.id: r for r in s.execute(select(
            SpeechSegmentRow.id, SpeechSegmentRow.video_id, SpeechSegmentRow.seq, SpeechSegmentRow.start,
            SpeechSegmentRow.end, SpeechSegmentRow.text).where(SpeechSegmentRow.id.in_([h.segment_id for h in hits])))}
        scored = []
        for hit in hits:
            seg = segments.get(hit.segment_id)
            cov = search_text.coverage(query, seg.text) if seg is not None else 0.0
            if seg is not None and cov > 0:
                scored.append((cov, hit, seg))
        scored.sort(key=lambda x: -x[0])
        runs = _word_runs(s, [seg for _, _, seg in scored[:LOCATED]])
    out = []
    seen: set[tuple[str, float]] = set()
    for cov, hit, seg in scored:
        start, end, cov = _locate(query, runs.get(seg.id), seg.start, seg.end, cov)
        if (seg.video_id, round(start, 2)) in seen:  # the same words, reached from the neighbouring segment
            continue
        seen.add((seg.video_id, round(start, 2)))
        out.append(Candidate(seg.video_id, None, start, end, "transcription", "transcript_lexical",
                             {"coverage": cov, "bm25": min(hit.score, 30.0) / 30.0}, seg.text))
    return out


LOCATED = 50  # best lexical hits whose words are located (the rest keep their segment's span)


def _locate(query: str, run: list[dict[str, Any]] | None, start: float, end: float,
            cov: float) -> tuple[float, float, float]:
    """(start, end, coverage) of where the query is said in a run of timed words; the segment's own span and
    coverage when the words do not show it."""
    if run:
        first, last, window_cov = search_text.best_window(query, [w["text"] for w in run])
        if first >= 0 and window_cov >= 0.5 * cov:
            return float(run[first]["start"]), float(run[last]["end"]), max(cov, window_cov)
    return start, end, cov


def _word_runs(session: Any, segments: list[Any]) -> dict[int, list[dict[str, Any]]]:
    """segment id → the timed words of the segment and of its neighbours before and after, in order."""
    if not segments:
        return {}
    # a video's segments are written in one transaction, in order: neighbours are (almost always) id +- 1
    ids = {seg.id + d for seg in segments for d in (-1, 0, 1)}
    rows = session.execute(select(SpeechSegmentRow.video_id, SpeechSegmentRow.seq, SpeechSegmentRow.words)
                           .where(SpeechSegmentRow.id.in_(sorted(ids))))
    words = {(r.video_id, r.seq): r.words or [] for r in rows}
    return {seg.id: [w for d in (-1, 0, 1) for w in words.get((seg.video_id, seg.seq + d), [])]
            for seg in segments}


def transcript_semantic(ctx: QueryContext) -> list[Candidate]:
    hits = ctx.search("transcription", ctx.text_vector, k=CANDIDATES // 2, group="vector")
    if not hits:
        return []
    query = ctx.text or ""
    ids = [int((h.payload or {}).get("segment", -1)) for h in hits]
    with ctx.platform.store.session() as s:
        segments = {r.id: r for r in s.execute(select(
            SpeechSegmentRow.id, SpeechSegmentRow.video_id, SpeechSegmentRow.seq, SpeechSegmentRow.text)
            .where(SpeechSegmentRow.id.in_(ids)))}
        # segments that share words with the query point at them, like lexical hits (so both meet in one clip)
        runs = _word_runs(s, [seg for seg in segments.values() if search_text.coverage(query, seg.text) > 0])
    out = []
    for h, seg_id in zip(hits, ids, strict=True):
        seg = segments.get(seg_id)
        text = seg.text if seg is not None else None
        start, end, cov = _locate(query, runs.get(seg_id), h.start, h.end, search_text.coverage(query, text or ""))
        out.append(Candidate(h.video_id, None if (start, end) != (h.start, h.end) else h.clip_seq, start, end,
                             "transcription", "transcript_semantic", {"cos": float(h.score), "coverage": cov}, text))
    return out


# --- visual: frames ----------------------------------------------------------------------------------------


def _features_of(ctx: QueryContext, kind: str, keys: set[tuple[str, int]]) -> dict[tuple[str, int],
                                                                                  list[search_cache.StoredTerms]]:
    """(video, clip) → its stored labels/tags of `kind` (cached per video version)."""
    if not keys:
        return {}
    return search_cache.clip_features(ctx.platform, ctx.index_id, kind, keys, ctx.ready_videos.versions)


def _vector_hits(ctx: QueryContext, space: str, queries: dict[str, FloatArray | None]) -> dict[tuple[str, int], Any]:
    """(video, clip) → {feature name: best cosine, "_hit": a hit of the clip} over the query vectors."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    floors: dict[str, float] = {}
    named = [(name, vec) for name, vec in queries.items() if vec is not None]
    for (name, _), hits in zip(named, ctx.search_many(space, [vec for _, vec in named]), strict=True):
        # a clip this search did not return scores at most its weakest hit: use that bound when missing
        floors[name] = max(0.0, min((float(h.score) for h in hits), default=0.0)) if len(hits) >= CANDIDATES else 0.0
        for h in hits:
            entry = found.setdefault((h.video_id, h.clip_seq), {"_hit": h})
            entry[name] = max(entry.get(name, -1.0), float(h.score))
    for entry in found.values():
        for name, floor in floors.items():
            entry.setdefault(name, floor)
    return found


def frames(ctx: QueryContext) -> list[Candidate]:
    labels = visual_labels(ctx.platform)
    relevance = label_relevance(labels, ctx) if labels else {}
    expanded = labels.expand(ctx.text_vector) if labels else None
    found = _vector_hits(ctx, "visual", {"cos": ctx.vision_text_vector, "cos_expanded": expanded})
    stored = _features_of(ctx, "visual", set(found))
    words = " ".join(ctx.content_words)
    seen: dict[str, float] = {}
    out = []
    for key, entry in found.items():
        best = {"match": 0.0, "best_label": 0.0, "words": 0.0}
        for row in stored.get(key, []):
            if relevance:
                match, strongest = LabelSpace.match(row.terms, relevance)
                best["match"] = max(best["match"], match)
                best["best_label"] = max(best["best_label"], strongest)
            if words:
                names = row.names
                if names not in seen:
                    seen[names] = search_text.coverage(words, names, fuzzy=False)
                best["words"] = max(best["words"], seen[names])
        hit = entry["_hit"]
        feats = {"cos": entry.get("cos", 0.0), "cos_expanded": entry.get("cos_expanded", 0.0), **best}
        out.append(Candidate(hit.video_id, hit.clip_seq, hit.start, hit.end, "visual", "frames", feats))
    return out


# --- visual: on-screen text --------------------------------------------------------------------------------


def ocr(ctx: QueryContext) -> list[Candidate]:
    """On-screen text: lines found by their sentence vectors, plus lexical candidates over every line and block
    of the allowed videos (a quote as a run of characters, whatever the spacing and punctuation; lines
    holding the query's rarest words), so an exact quote is always a candidate. Features: `fuzzy` (how well
    the text contains the query, character-level, see `search_text.fuzzy_coverage`), `phrase` (the query as
    one contiguous run of the text, `search_text.phrase_match`) and `cos` (sentence vectors)."""
    query = ctx.text or ""
    # keyed by the text too: several lines start at the same moment (one picture read)
    lines: dict[tuple[str, int, float, str], dict[str, Any]] = {}
    for h in ctx.search("ocr", ctx.text_vector, group="vector"):
        text = str((h.payload or {}).get("text", ""))
        key = (h.video_id, h.clip_seq, round(h.start, 2), text)
        lines[key] = {"text": text, "cos": float(h.score), "start": h.start, "end": h.end}
    lexical: dict[tuple[str, int, float, str], dict[str, Any]] = {}
    # the quote as a run of characters (FTS-like phrase search, tolerant of split and glued words), and
    # substring matches of the rarest query words (codes, numbers, names; a word misread elsewhere)
    squashed = search_text.squash(query)
    words = sorted((w for w in search_text.tokens(query) if len(w) >= 3 and w not in search_text.STOP_WORDS),
                   key=len, reverse=True)[:3]
    if words or len(squashed) >= 6:
        # the index's lines are cached (per video version); matched like SQLite's case-insensitive LIKE
        index_lines = search_cache.ocr_lines(ctx.platform, ctx.tenant_id, ctx.index_id, ctx.ready_videos)
        needles = [(search_cache.ascii_lower(w), False) for w in words]
        if len(squashed) >= 6 and len(words) >= 2:
            needles.insert(0, (squashed, True))
        for needle, whole in needles:
            taken = 0
            for r in index_lines:
                if needle not in (r.squashed if whole else r.folded) or r.video_id not in ctx.video_ids:
                    continue
                key = (r.video_id, r.clip_seq, round(r.start, 2), r.text)
                if key not in lines:
                    lexical.setdefault(key, {"text": r.text, "cos": 0.0, "start": r.start, "end": r.end})
                taken += 1
                if taken >= OCR_SCAN_LIMIT:
                    break
    for line in [*lines.values(), *lexical.values()]:
        line["fuzzy"] = search_text.fuzzy_coverage(query, line["text"])
        line["phrase"] = search_text.phrase_match(query, line["text"])
    # only the lexical candidates that match best need a sentence vector (computed here)
    kept = sorted(lexical, key=lambda k: (lexical[k]["fuzzy"], lexical[k]["phrase"]), reverse=True)[:OCR_LEXICAL_KEEP]
    lines.update((k, lexical[k]) for k in kept)
    if not lines:
        return []
    missing = [k for k in kept if lines[k]["cos"] == 0.0]
    if missing:
        vecs = ctx.platform.models.text().embed([lines[k]["text"] for k in missing])
        for k, v in zip(missing, vecs @ ctx.text_vector, strict=True):
            lines[k]["cos"] = float(v)
    return [Candidate(video_id, seq, line["start"], line["end"], "visual", "ocr",
                      {"fuzzy": line["fuzzy"], "phrase": line["phrase"], "cos": line["cos"]})
            for (video_id, seq, _, _), line in lines.items()]


# --- visual: query images ---------------------------------------------------------------------------------


def image(ctx: QueryContext) -> list[Candidate]:
    analyses = ctx.image_analyses
    if not analyses:
        return []
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for a in analyses:  # the same picture: its CNN feature
        for h in ctx.search("visual_image", a.tags.feature):
            entry = found.setdefault((h.video_id, h.clip_seq), {"_hit": h})
            entry["feature"] = max(entry.get("feature", -1.0), float(h.score))
    joint = np.mean([a.embedding for a in analyses], axis=0)
    if float(np.linalg.norm(joint)) > 0:  # the same content: joint-space vector of the images together
        for h in ctx.search("visual", joint / np.linalg.norm(joint)):
            entry = found.setdefault((h.video_id, h.clip_seq), {"_hit": h})
            entry["joint"] = max(entry.get("joint", -1.0), float(h.score))
    out = []
    for entry in found.values():
        h = entry["_hit"]
        feats = {"feature": max(0.0, entry.get("feature", 0.0)), "joint": max(0.0, entry.get("joint", 0.0))}
        out.append(Candidate(h.video_id, h.clip_seq, h.start, h.end, "visual", "image", feats))
    return out


# --- audio --------------------------------------------------------------------------------------------------


def sounds(ctx: QueryContext) -> list[Candidate]:
    labels = audio_labels(ctx.platform)
    relevance = label_relevance(labels, ctx) if labels else {}
    expanded = labels.expand(ctx.text_vector) if labels else None
    found = _vector_hits(ctx, "audio", {"cos": ctx.text_vector, "cos_expanded": expanded})
    stored = _features_of(ctx, "audio", set(found))
    out = []
    for key, entry in found.items():
        feats = {"cos": entry.get("cos", 0.0), "cos_expanded": entry.get("cos_expanded", 0.0), "match": 0.0,
                 "best_label": 0.0}
        for row in stored.get(key, []):
            if relevance:
                match, strongest = LabelSpace.match(row.terms, relevance)
                feats["match"] = max(feats["match"], match)
                feats["best_label"] = max(feats["best_label"], strongest)
        hit = entry["_hit"]
        out.append(Candidate(hit.video_id, hit.clip_seq, hit.start, hit.end, "audio", "sounds", feats))
    return out


Source = Callable[[QueryContext], list[Candidate]]

# modality → [(source name, retriever)]; a text query runs the text sources, an image query the image source.
TEXT_SOURCES: dict[str, list[tuple[str, Source]]] = {
    "transcription": [("transcript_lexical", transcript_lexical), ("transcript_semantic", transcript_semantic)],
    "visual": [("frames", frames), ("ocr", ocr)],
    "audio": [("sounds", sounds)],
}
IMAGE_SOURCES: dict[str, list[tuple[str, Source]]] = {"visual": [("image", image)]}


def retrieve(ctx: QueryContext, options: list[str]) -> list[Candidate]:
    """Every candidate of every applicable source of the requested modalities (uncalibrated)."""
    out: list[Candidate] = []
    for option in options:
        if ctx.text:
            for name, source in TEXT_SOURCES.get(option, []):
                if name == "transcript_lexical" and "lexical" not in ctx.transcription_options:
                    continue
                if name == "transcript_semantic" and "semantic" not in ctx.transcription_options:
                    continue
                out.extend(source(ctx))
        if ctx.images:
            for _name, source in IMAGE_SOURCES.get(option, []):
                out.extend(source(ctx))
    return out
