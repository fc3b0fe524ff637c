"""In-memory caches of what a search reads from the metadata database besides the vectors.

A search used to load, per query, every ready video of the index (ORM rows), the clips of its candidate videos
and the stored labels of up to ~400 candidate clips (JSON through the ORM), and to scan the index's on-screen
text lines with ``LIKE``. All of that only changes when a video becomes ready, is re-indexed, edited or deleted,
so it is kept here:

* **ready videos** of a (tenant, index): reloaded when the index's *fingerprint* changes, i.e. the count and the
  newest ``updated_at`` of its ready videos (one aggregate query per search). A video that becomes ready, is
  edited (``updated_at`` is bumped on every update) or leaves the ready state/is deleted changes it.
* **per-video data** (clip spans, stored ``visual``/``audio`` features per clip, on-screen text lines): keyed by
  the video's ``updated_at``, so an entry of an older version of a video is never used; bounded (LRU) for the
  per-clip features. Ingest writes a video's clips and features before it becomes ready and re-indexing takes it
  out of the ready state, so a ready video's ``updated_at`` identifies its data.

Caches hang off the `Platform` (weakly), so separate platforms (tests, several data directories) never share.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select, tuple_

from framedex.models.base import FloatArray
from framedex.services.platform import Platform
from framedex.storage.tables import ClipFeatureRow, ClipRow, IndexedAssetRow

MAX_CLIP_FEATURES = 200_000  # cached (video, kind, clip) feature entries per platform
MAX_VIDEO_CLIPS = 50_000  # cached videos' clip lists per platform
MAX_TEXT_VECTORS = 20_000  # memoised query / query-word text vectors per platform
_CHUNK = 500  # ids per IN (...) query

ClipSpan = tuple[float, float, int, str | None]  # start, end, seq, thumbnail key


@dataclass(frozen=True)
class VideoInfo:
    """What search needs of a ready video (filters, pool statistics, user metadata)."""

    id: str
    filename: str | None
    duration: float | None
    fps: float | None
    width: int | None
    height: int | None
    size: int | None
    user_metadata: dict[str, Any]
    updated_at: Any


@dataclass(frozen=True)
class OcrLine:
    row_id: int
    video_id: str
    clip_seq: int
    start: float
    end: float
    text: str
    folded: str  # ASCII-lowercased, as SQLite's lower()/LIKE compare
    squashed: str = ""  # folded letters and digits only (`search_text.squash`): phrase containment
    block: bool = False  # a block reassembled from lines (kind ``ocr_block``), not one read line


@dataclass(frozen=True)
class StoredTerms:
    """A stored `visual` (labels) or `audio` (tags) feature, ready for re-scoring."""

    terms: tuple[tuple[str, float], ...]  # (label, weight)
    names: str  # the label and attribute names, space-separated (lexical matching of query words)


def _stored_terms(kind: str, data: dict[str, Any]) -> StoredTerms:
    raw = data.get("terms" if kind == "visual" else "tags") or []
    terms = tuple((str(t[0]), float(t[1])) for t in raw)
    names = " ".join(name for name, _ in terms) + " " + " ".join(data.get("attributes") or []) \
        if kind == "visual" else ""
    return StoredTerms(terms, names)


@dataclass
class ReadyVideos:
    fingerprint: tuple[Any, ...]
    videos: list[VideoInfo]
    by_id: dict[str, VideoInfo]
    ids: frozenset[str]
    total_duration: float
    versions: dict[str, Any]
    ocr: dict[str, tuple[Any, list[OcrLine]]] = field(default_factory=dict)  # video → (version, lines)
    ocr_all: list[OcrLine] | None = None


class _Lru:
    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, tuple[Any, Any]] = OrderedDict()

    def get(self, key: Any, version: Any) -> tuple[bool, Any]:
        item = self.items.get(key)
        if item is None or item[0] != version:
            return False, None
        self.items.move_to_end(key)
        return True, item[1]

    def put(self, key: Any, version: Any, value: Any) -> None:
        self.items[key] = (version, value)
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class SearchCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[tuple[str, str], ReadyVideos] = {}
        self.features = _Lru(MAX_CLIP_FEATURES)
        self.clips = _Lru(MAX_VIDEO_CLIPS)
        self.vectors = _Lru(MAX_TEXT_VECTORS)


# id(platform) → (a weak reference to it, its cache); an entry goes when its platform is collected.
_caches: dict[int, tuple[weakref.ref[Platform], SearchCache]] = {}
_caches_lock = threading.Lock()


def cache_of(platform: Platform) -> SearchCache:
    key = id(platform)
    with _caches_lock:
        item = _caches.get(key)
        if item is not None and item[0]() is platform:
            return item[1]
        cache = SearchCache()
        _caches[key] = (weakref.ref(platform), cache)
        weakref.finalize(platform, _forget, key, cache)
        return cache


def clear(platform: Platform) -> None:
    """Drop every search cache of `platform` and the text-matching memos (benchmarks of the cold path; never
    needed for correctness)."""
    from framedex.services.search import text as search_text

    with _caches_lock:
        _caches.pop(id(platform), None)
    search_text.clear_caches()


def _forget(key: int, cache: SearchCache) -> None:
    with _caches_lock:
        item = _caches.get(key)
        if item is not None and item[1] is cache:
            del _caches[key]


def embed_texts(platform: Platform, model: tuple[str, str], embed: Callable[[list[str]], FloatArray],
                texts: list[str]) -> FloatArray:
    """`embed(texts)` through a per-platform memo keyed by (model, text): a text encoder is deterministic, and
    queries and query words repeat (the words of "red car" and "red bus")."""
    cache = cache_of(platform)
    out: list[FloatArray | None] = []
    with cache.lock:
        for t in texts:
            hit, vec = cache.vectors.get((model, t), None)
            out.append(vec if hit else None)
    missing = sorted({t for t, vec in zip(texts, out, strict=True) if vec is None})
    if missing:
        fresh = dict(zip(missing, embed(missing), strict=True))
        with cache.lock:
            for t, vec in fresh.items():
                vec = np.array(vec, dtype=np.float32)
                vec.flags.writeable = False
                fresh[t] = vec
                cache.vectors.put((model, t), None, vec)
        out = [fresh[t] if vec is None else vec for t, vec in zip(texts, out, strict=True)]
    if not texts:
        return embed(texts)
    return np.stack([vec for vec in out if vec is not None])


def ready_videos(platform: Platform, tenant_id: str, index_id: str) -> ReadyVideos:
    """The index's ready videos (reloaded only when the index's fingerprint changed)."""
    cache = cache_of(platform)
    where = (IndexedAssetRow.tenant_id == tenant_id, IndexedAssetRow.index_id == index_id,
             IndexedAssetRow.status == "ready")
    with platform.store.session() as s:
        count, newest = s.execute(select(func.count(IndexedAssetRow.id), func.max(IndexedAssetRow.updated_at))
                                  .where(*where)).one()
        fingerprint: tuple[Any, ...] = (int(count or 0), newest)
        with cache.lock:
            current = cache.ready.get((tenant_id, index_id))
        if current is not None and current.fingerprint == fingerprint:
            return current
        rows = s.execute(select(IndexedAssetRow.id, IndexedAssetRow.filename, IndexedAssetRow.duration,
                                IndexedAssetRow.fps, IndexedAssetRow.width, IndexedAssetRow.height,
                                IndexedAssetRow.size, IndexedAssetRow.user_metadata, IndexedAssetRow.updated_at)
                         .where(*where).order_by(IndexedAssetRow.id)).all()
    videos = [VideoInfo(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] or {}, r[8]) for r in rows]
    # the fingerprint of what was read (a change between the two queries is picked up by the next search)
    fingerprint = (len(videos), max((v.updated_at for v in videos), default=None))
    fresh = ReadyVideos(fingerprint, videos, {v.id: v for v in videos}, frozenset(v.id for v in videos),
                        round(sum(v.duration or 0.0 for v in videos), 3), {v.id: v.updated_at for v in videos})
    if current is not None:  # keep the on-screen text of videos that did not change
        fresh.ocr = {v: item for v, item in current.ocr.items() if fresh.versions.get(v) == item[0]}
    with cache.lock:
        cache.ready[(tenant_id, index_id)] = fresh
    return fresh


def clip_spans(platform: Platform, index_id: str, video_ids: Iterable[str],
               versions: dict[str, Any]) -> dict[str, list[ClipSpan]]:
    """video → its clips (start, end, seq, thumbnail key), sorted; cached per video version."""
    cache = cache_of(platform)
    out: dict[str, list[ClipSpan]] = {}
    missing: list[str] = []
    with cache.lock:
        for v in video_ids:
            hit, value = cache.clips.get((index_id, v), versions.get(v))
            if hit:
                if value:
                    out[v] = value
            else:
                missing.append(v)
    if not missing:
        return out
    loaded: dict[str, list[ClipSpan]] = {v: [] for v in missing}
    ids = sorted(missing)
    with platform.store.session() as s:
        for i in range(0, len(ids), _CHUNK):
            for video_id, start, end, seq, key in s.execute(
                    select(ClipRow.video_id, ClipRow.start, ClipRow.end, ClipRow.seq, ClipRow.thumbnail_key)
                    .where(ClipRow.index_id == index_id, ClipRow.video_id.in_(ids[i:i + _CHUNK]))):
                loaded[video_id].append((start, end, seq, key))
    with cache.lock:
        for v, rows in loaded.items():
            rows.sort()
            if v in versions:  # only ready videos have a version that identifies their data
                cache.clips.put((index_id, v), versions[v], rows)
            if rows:
                out[v] = rows
    return out


def clip_features(platform: Platform, index_id: str, kind: str, keys: Iterable[tuple[str, int]],
                  versions: dict[str, Any]) -> dict[tuple[str, int], list[StoredTerms]]:
    """(video, clip) → its stored features of `kind` (``visual`` or ``audio``); cached per video version."""
    cache = cache_of(platform)
    out: dict[tuple[str, int], list[StoredTerms]] = {}
    missing: list[tuple[str, int]] = []
    with cache.lock:
        for key in keys:
            hit, value = cache.features.get((index_id, kind, key), versions.get(key[0]))
            if hit:
                if value:
                    out[key] = value
            else:
                missing.append(key)
    if not missing:
        return out
    loaded: dict[tuple[str, int], list[StoredTerms]] = {k: [] for k in missing}
    ordered = sorted(missing)
    with platform.store.session() as s:
        for i in range(0, len(ordered), _CHUNK):
            for video_id, seq, data in s.execute(
                    select(ClipFeatureRow.video_id, ClipFeatureRow.clip_seq, ClipFeatureRow.data)
                    .where(ClipFeatureRow.kind == kind, ClipFeatureRow.index_id == index_id,
                           tuple_(ClipFeatureRow.video_id, ClipFeatureRow.clip_seq).in_(ordered[i:i + _CHUNK]))
                    .order_by(ClipFeatureRow.id)):
                loaded[(video_id, seq)].append(_stored_terms(kind, data or {}))
    with cache.lock:
        for key, rows in loaded.items():
            if key[0] in versions:
                cache.features.put((index_id, kind, key), versions[key[0]], rows)
            if rows:
                out[key] = rows
    return out


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lowercase ASCII letters only, like SQLite's lower() and case-insensitive LIKE."""
    return text.translate(_ASCII_LOWER)


def ocr_lines(platform: Platform, tenant_id: str, index_id: str, ready: ReadyVideos) -> list[OcrLine]:
    """Every on-screen text line and block (rows and paragraphs reassembled from lines) of the index's ready
    videos (in database order), loading only the videos that are new or changed since the last call."""
    from framedex.services.search.text import squash

    cache = cache_of(platform)
    with cache.lock:
        if ready.ocr_all is not None:
            return ready.ocr_all
        missing = [v for v in ready.ids if v not in ready.ocr]
    loaded: dict[str, list[OcrLine]] = {v: [] for v in missing}
    ids = sorted(missing)
    if ids:
        with platform.store.session() as s:
            for i in range(0, len(ids), _CHUNK):
                for row_id, video_id, seq, start, end, text, kind in s.execute(
                        select(ClipFeatureRow.id, ClipFeatureRow.video_id, ClipFeatureRow.clip_seq,
                               ClipFeatureRow.start, ClipFeatureRow.end, ClipFeatureRow.text, ClipFeatureRow.kind)
                        .where(ClipFeatureRow.kind.in_(("ocr", "ocr_block")), ClipFeatureRow.index_id == index_id,
                               ClipFeatureRow.tenant_id == tenant_id,
                               ClipFeatureRow.video_id.in_(ids[i:i + _CHUNK]))):
                    loaded[video_id].append(OcrLine(row_id, video_id, seq, start, end, text or "",
                                                    ascii_lower(text or ""), squash(text or ""),
                                                    kind == "ocr_block"))
    with cache.lock:
        for v, lines in loaded.items():
            ready.ocr[v] = (ready.versions[v], lines)
        # in database (row id) order, as the LIKE scan read them
        ready.ocr_all = sorted((line for v, (_, lines) in ready.ocr.items() if v in ready.ids for line in lines),
                               key=lambda line: line.row_id)
        return ready.ocr_all
