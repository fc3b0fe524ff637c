"""Search: per-modality retrieval, calibration, fusion, filtering, ranking, grouping and token paging.

Pipeline of `run_search` (docs/search.md has the details and the numbers):

1. validate; list the index's ready videos and apply the `filter` (system and user metadata) *before* retrieval,
   so every retriever only sees allowed videos;
2. retrieve candidates per requested modality and source (`search_retrievers`: FTS5 BM25 and sentence vectors
   over transcripts, ANN over frame/sound/text-line vectors with label-vocabulary query expansion, fuzzy OCR,
   CNN-feature ANN for query images);
3. calibrate each candidate's raw features into a probability of relevance (`search_calibration`, fitted on a
   labelled development set), so that scores of different sources and modalities are comparable;
4. fuse per clip: within a modality and across modalities a *soft OR* (the best probability plus a share of
   the others' evidence) for ``operator=or``, the geometric mean of modalities that each pass their threshold
   for ``operator=and``; composed image+text queries average the image and the text evidence;
5. drop clips under the relevance threshold, rank, group by video when asked, and keep the ranked list for
   paging with opaque tokens that expire.

`<@entity_id>` in the query restricts results to the entity's clips; its other words rank them
(`services.entities`).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import new_id, rfc3339, utcnow
from framedex.services import entities
from framedex.services.indexes import get_index, index_modalities
from framedex.services.platform import Platform
from framedex.services.search import cache as search_cache
from framedex.services.search import calibration as search_calibration
from framedex.services.search.cache import ReadyVideos, VideoInfo
from framedex.services.search.retrievers import Candidate, QueryContext, decode_images, retrieve
from framedex.services.videos import metadata_matches
from framedex.storage.tables import SearchSessionRow

SEARCH_OPTIONS = {"visual", "audio", "transcription"}
# Older option names, mapped onto what we index.
LEGACY_OPTIONS = {"conversation": "transcription", "text_in_video": "visual", "logo": "visual"}
TRANSCRIPTION_OPTIONS = {"lexical", "semantic"}
MAX_RESULTS = 1000
MAX_PAGE_LIMIT = 50
MAX_QUERY_CHARS = 2000


@dataclass
class SearchRequest:
    index_id: str
    search_options: list[str]
    query_text: str | None = None
    transcription_options: list[str] = field(default_factory=lambda: ["lexical", "semantic"])
    operator: str = "or"
    group_by: str = "clip"
    page_limit: int = 10
    filter: dict[str, Any] = field(default_factory=dict)
    include_user_metadata: bool = False
    query_media_type: str | None = None
    query_images: list[bytes] = field(default_factory=list)


@dataclass
class SearchPageResult:
    data: list[dict[str, Any]]
    page_info: dict[str, Any]
    search_pool: dict[str, Any]


def validate(request: SearchRequest) -> SearchRequest:
    options = []
    for option in request.search_options:
        option = LEGACY_OPTIONS.get(option, option)
        if option not in SEARCH_OPTIONS:
            raise InvalidParameter("search_options", f"Unknown option {option!r}; use {sorted(SEARCH_OPTIONS)}.")
        if option not in options:
            options.append(option)
    if not options:
        raise MissingParameter("search_options")
    request.search_options = options
    bad = [o for o in request.transcription_options if o not in TRANSCRIPTION_OPTIONS]
    if bad:
        raise InvalidParameter("transcription_options", f"Unknown options {bad}.")
    if request.operator not in ("or", "and"):
        raise InvalidParameter("operator", "Use or / and.")
    if request.group_by not in ("clip", "video"):
        raise InvalidParameter("group_by", "Use clip / video.")
    if not 1 <= request.page_limit <= MAX_PAGE_LIMIT:
        raise InvalidParameter("page_limit", f"It must be between 1 and {MAX_PAGE_LIMIT}.")
    has_text = bool(request.query_text and request.query_text.strip())
    if request.query_media_type not in (None, "", "image"):
        raise InvalidParameter("query_media_type", "Only image is supported.")
    if request.query_media_type == "image" and not request.query_images:
        raise MissingParameter("query_media_file")
    if not has_text and not request.query_images:
        raise MissingParameter("query_text")
    if request.query_text and len(request.query_text) > MAX_QUERY_CHARS:
        raise InvalidParameter("query_text", "The query is too long.", code="query_text_too_long")
    return request


def _filter_videos(videos: list[VideoInfo], flt: dict[str, Any]) -> list[VideoInfo]:
    out = []
    system = {"duration", "width", "height", "size", "fps"}
    for v in videos:
        ok = True
        for key, cond in flt.items():
            if key == "id":
                ids = cond if isinstance(cond, list) else [cond]
                ok = v.id in ids
            elif key == "filename":
                ok = v.filename == cond
            elif key in system:
                value = getattr(v, key)
                if value is None:
                    ok = False
                elif isinstance(cond, dict):
                    unknown = set(cond) - {"gte", "lte"}
                    if unknown:
                        raise InvalidParameter("filter", f"Unknown operators {sorted(unknown)} on {key}.")
                    ok = ("gte" not in cond or value >= cond["gte"]) and ("lte" not in cond or value <= cond["lte"])
                elif isinstance(cond, int | float):
                    ok = value == cond
                else:
                    raise InvalidParameter("filter", f"{key} takes a number or {{gte, lte}}.")
            else:
                meta = v.user_metadata or {}
                if isinstance(cond, dict) and key in meta and isinstance(meta[key], int | float):
                    value = meta[key]
                    ok = ("gte" not in cond or value >= cond["gte"]) and ("lte" not in cond or value <= cond["lte"])
                else:
                    ok = metadata_matches(meta, {key: str(cond).lower() if isinstance(cond, bool) else str(cond)})
            if not ok:
                break
        if ok:
            out.append(v)
    return out


# --- fusion ---------------------------------------------------------------------------------------------------

# A clip is returned when its fused probability of relevance reaches this (fitted on the development set with
# the calibration; see eval/calibrate.py and docs/search.md).
RELEVANCE_THRESHOLD = 0.5
# Share of the remaining evidence that a second source/modality adds on top of the best one ("soft OR").
SECOND_OPINION = 0.3
HIGH, MEDIUM = 0.8, 0.6


def soft_or(values: list[float]) -> float:
    """The best probability, raised towards 1 by a share of the others: agreement is evidence, but correlated
    sources (a word both read and heard) must not be counted as independent."""
    if not values:
        return 0.0
    ordered = sorted(values, reverse=True)
    best = ordered[0]
    return min(1.0, best + SECOND_OPINION * (1.0 - best) * sum(ordered[1:]))


def _soft_or_floor(sources: int, target: float) -> float:
    """The highest relevance `f` such that `sources` values all below `f` cannot soft-OR up to `target`."""
    low, high = 0.0, target
    for _ in range(30):
        f = (low + high) / 2
        if soft_or([f] * max(sources, 1)) < target:
            low = f
        else:
            high = f
    return low


def confidence(relevance: float) -> str:
    return "high" if relevance >= HIGH else "medium" if relevance >= MEDIUM else "low"


ClipKey = tuple[str, int]


def _place(candidates: list[Candidate], clips: dict[str, list[tuple[float, float, int, str | None]]]) -> None:
    """Give candidates found by time span (transcript segments) the clip holding their middle."""
    for c in candidates:
        if c.clip_seq is None:
            seq = _clip_for(clips.get(c.video_id, []), c.start, c.end, need_thumbnail=False)
            c.clip_seq = seq if seq is not None else -1


def fuse(candidates: list[Candidate], request: SearchRequest, *, composed: bool,
         clips: dict[str, list[tuple[float, float, int, str | None]]],
         min_relevance: float | None = None) -> list[dict[str, Any]]:
    """Calibrated candidates → one result per clip with its fused relevance, best first (only those reaching
    `min_relevance`, when given)."""
    if min_relevance is not None and not composed:
        # a clip none of whose candidates reaches the floor cannot reach `min_relevance`: skip it early
        floor = _soft_or_floor(len({c.source for c in candidates}), min_relevance)
        hopeful = {(c.video_id, c.clip_seq) for c in candidates if c.relevance >= floor}
        candidates = [c for c in candidates if (c.video_id, c.clip_seq) in hopeful]
    by_clip: dict[ClipKey, dict[str, Any]] = {}
    for c in candidates:
        key = (c.video_id, int(c.clip_seq if c.clip_seq is not None else -1))
        item = by_clip.setdefault(key, {"sources": {}, "transcription": None, "t_rel": -1.0, "span": (c.start, c.end),
                                        "said": None, "said_rank": (False, -1.0)})
        prev = item["sources"].get(c.source)
        if prev is None or c.relevance > prev[1]:
            item["sources"][c.source] = (c.modality, c.relevance)
        if c.transcription and c.relevance > item["t_rel"]:
            item["transcription"], item["t_rel"] = c.transcription, c.relevance
        # where it is said: the located words of the best lexical hit, else the best segment's span
        said_rank = (c.source == "transcript_lexical", c.relevance)
        if c.modality == "transcription" and said_rank > item["said_rank"]:
            item["said"], item["said_rank"] = (c.start, c.end), said_rank
    results = []
    for (video_id, seq), item in by_clip.items():
        per_modality: dict[str, list[float]] = {}
        text_values: list[float] = []
        image_value = 0.0
        for source, (modality, p) in item["sources"].items():
            if composed and source == "image":
                image_value = p
                continue
            per_modality.setdefault(modality, []).append(p)
            text_values.append(p)
        modalities = {m: soft_or(v) for m, v in per_modality.items()}
        if composed:
            text_part = soft_or(text_values)
            modalities["visual"] = max(modalities.get("visual", 0.0), image_value)
            relevance = 0.5 * image_value + 0.5 * text_part
        elif request.operator == "and":
            if any(modalities.get(m, 0.0) < RELEVANCE_THRESHOLD for m in request.search_options):
                continue
            values = [modalities[m] for m in request.search_options]
            relevance = math.exp(sum(math.log(max(v, 1e-9)) for v in values) / len(values))
        else:
            relevance = soft_or(list(modalities.values()))
        if min_relevance is not None and relevance < min_relevance:
            continue
        start, end = item["span"]
        video_clips = clips.get(video_id, [])
        for c_start, c_end, c_seq, _ in video_clips:
            if c_seq == seq:
                start, end = c_start, c_end  # (seq is unique per video)
                break
        if item["said"] is not None and max(modalities, key=lambda m: modalities[m]) == "transcription":
            # found by what is said: point at the words (a clip can be a long shot), not at the whole clip
            start, end = _said_span(*item["said"], video_end=video_clips[-1][1] if video_clips else item["said"][1])
        results.append({"video_id": video_id, "start": start, "end": end, "relevance": relevance,
                        "modalities": {m: round(v, 4) for m, v in sorted(modalities.items(), key=lambda kv: -kv[1])},
                        "transcription": item["transcription"]})
    results.sort(key=lambda r: (-r["relevance"], r["video_id"], r["start"]))
    return results


SAID_PADDING = 0.25  # seconds around the words of a transcript hit
SAID_MIN_SECONDS = 2.0  # shortest span of a transcript hit (a single word is a fraction of a second)


def _said_span(start: float, end: float, *, video_end: float) -> tuple[float, float]:
    start, end = start - SAID_PADDING, end + SAID_PADDING
    if end - start < SAID_MIN_SECONDS:
        grow = (SAID_MIN_SECONDS - (end - start)) / 2
        start, end = start - grow, end + grow
    return max(0.0, round(start, 3)), round(min(max(end, start), video_end), 3)


# --- the search ------------------------------------------------------------------------------------------------


def _clips_of(platform: Platform, index_id: str, video_ids: set[str],
              ready: ReadyVideos) -> dict[str, list[tuple[float, float, int, str | None]]]:
    """video → its clips (start, end, seq, thumbnail key), sorted (cached per video version)."""
    if not video_ids:
        return {}
    return search_cache.clip_spans(platform, index_id, video_ids, ready.versions)


def candidates_for(platform: Platform, tenant_id: str, request: SearchRequest, video_ids: set[str] | frozenset[str],
                   *, ready: ReadyVideos | None = None) -> list[Candidate]:
    """Every calibrated candidate of the request's sources (the evaluation reads these too)."""
    ctx = QueryContext(platform, tenant_id, request.index_id, (request.query_text or "").strip() or None,
                       decode_images(request.query_images), video_ids,
                       list(request.transcription_options), ready=ready)
    found = retrieve(ctx, request.search_options)
    search_calibration.calibrate(found)
    return found


def rank(platform: Platform, tenant_id: str, request: SearchRequest, video_ids: set[str] | frozenset[str], *,
         ready: ReadyVideos | None = None) -> list[dict[str, Any]]:
    """The ranked, thresholded clip results of a validated request over `video_ids` (no paging)."""
    if ready is None:
        ready = search_cache.ready_videos(platform, tenant_id, request.index_id)
    # `<@entity_id>` in the query: the entities pick the clips, the remaining words rank them.
    entity_ids, rest = entities.split_entity_query(request.query_text)
    if entity_ids:
        request.query_text = rest or None
    found: list[Candidate] = []
    if request.query_text or request.query_images:
        found = candidates_for(platform, tenant_id, request, video_ids, ready=ready)
    clips = _clips_of(platform, request.index_id, {c.video_id for c in found}, ready)
    _place(found, clips)
    composed = bool(request.query_images) and bool(request.query_text)
    # without entities, clips under the threshold are dropped below: do not build their results
    fused = fuse(found, request, composed=composed, clips=clips,
                 min_relevance=None if entity_ids else RELEVANCE_THRESHOLD)
    if entity_ids:
        fused = entities.combine_with_entities(
            entities.retrieve_entity_clips(platform, tenant_id, request, set(video_ids), entity_ids), fused,
            has_rest=bool(rest))
        clips.update(_clips_of(platform, request.index_id, {r["video_id"] for r in fused} - set(clips), ready))
    else:
        fused = [r for r in fused if r["relevance"] >= RELEVANCE_THRESHOLD]
    fused = fused[:MAX_RESULTS]
    for r in fused:
        r["thumbnail_seq"] = _clip_for(clips.get(r["video_id"], []), r["start"], r["end"])
    return fused


def run_search(platform: Platform, tenant_id: str, request: SearchRequest) -> SearchPageResult:
    request = validate(request)
    with platform.store.session() as s:
        index = get_index(s, tenant_id, request.index_id)
        _check_options(index, request.search_options)
    ready = search_cache.ready_videos(platform, tenant_id, request.index_id)
    pool = {"total_count": len(ready.videos), "total_duration": ready.total_duration, "index_id": request.index_id}
    if request.filter:
        allowed_ids: set[str] | frozenset[str] = frozenset(v.id for v in _filter_videos(ready.videos, request.filter))
    else:
        allowed_ids = ready.ids
    fused = rank(platform, tenant_id, request, allowed_ids, ready=ready)
    for r in fused:
        video = ready.by_id.get(r["video_id"])
        r["user_metadata"] = (video.user_metadata if video is not None and r["video_id"] in allowed_ids else {}) \
            or {}
    entries = _group(fused) if request.group_by == "video" else fused
    session_id = new_id()
    expires = utcnow() + timedelta(seconds=platform.settings.search_page_ttl_seconds)
    with platform.store.session() as s:
        s.add(SearchSessionRow(id=session_id, tenant_id=tenant_id, index_id=request.index_id,
                               page_limit=request.page_limit, results=entries, search_pool=pool,
                               include_user_metadata=request.include_user_metadata, expires_at=expires))
    return _page(session_id, entries, pool, 1, request.page_limit, expires, len(fused),
                 request.include_user_metadata)


def _check_options(index: Any, options: list[str]) -> None:
    """Only what the index's models computed can be searched (400, as the real API answers): `visual` needs the
    visual model option, `audio` and `transcription` the audio one."""
    have = index_modalities(index)
    if "audio" in have:
        have.add("transcription")
    missing = [o for o in options if o not in have]
    if missing:
        raise InvalidParameter("search_options", f"The search options {missing} are not enabled for index "
                               f"{index.id}, whose models have the options {sorted(_index_options(index))}.",
                               code="search_option_not_supported")


def _index_options(index: Any) -> set[str]:
    return {o for m in index.models for o in m.get("model_options", [])}


def _clip_for(clips: list[tuple[float, float, int, str | None]], start: float, end: float, *,
              need_thumbnail: bool = True) -> int | None:
    """The clip holding the middle of [start, end] (with a thumbnail, unless told otherwise)."""
    middle = (start + end) / 2
    for c_start, c_end, seq, key in clips:
        if c_start <= middle <= c_end and (key or not need_thumbnail):
            return seq
    return None


def _group(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Videos ranked by their best clip; each keeps its clips, best first."""
    groups: dict[str, dict[str, Any]] = {}
    for r in results:
        group = groups.setdefault(r["video_id"], {"id": r["video_id"], "clips": [], "relevance": r["relevance"],
                                                  "user_metadata": r.get("user_metadata")})
        group["clips"].append(r)
    return sorted(groups.values(), key=lambda g: -g["relevance"])


def encode_token(session_id: str, page: int) -> str:
    return base64.urlsafe_b64encode(f"{session_id}:{page}".encode()).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        session_id, page = raw.split(":")
        number = int(page)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid") from exc
    if number < 1 or not session_id:
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid")
    return session_id, number


def retrieve_page(platform: Platform, tenant_id: str, token: str,
                  include_user_metadata: bool | None = None) -> SearchPageResult:
    session_id, page = decode_token(token)
    with platform.store.session() as s:
        row = s.get(SearchSessionRow, session_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound("search page", token)
        if row.expires_at < utcnow():
            raise ServiceError("The page token has expired; run the search again.", code="search_page_token_expired")
        total_clips = sum(len(e["clips"]) for e in row.results) if row.results and "clips" in row.results[0] \
            else len(row.results)
        include = row.include_user_metadata if include_user_metadata is None else include_user_metadata
        return _page(row.id, row.results, row.search_pool, page, row.page_limit, row.expires_at, total_clips,
                     include)


def _page(session_id: str, entries: list[dict[str, Any]], pool: dict[str, Any], page: int, limit: int,
          expires: Any, total_inner: int, include_user_metadata: bool) -> SearchPageResult:
    start = (page - 1) * limit
    window = entries[start:start + limit]
    data = []
    for i, entry in enumerate(window, start=start + 1):
        if "clips" in entry:
            item: dict[str, Any] = {"id": entry["id"], "rank": i, "score": round(100 * float(entry["relevance"]), 2),
                                    "confidence": confidence(float(entry["relevance"])),
                                    "clips": [_hit(c, rank, include_user_metadata)
                                              for rank, c in enumerate(entry["clips"], start=1)]}
            if include_user_metadata:
                item["user_metadata"] = entry.get("user_metadata") or {}
            data.append(item)
        else:
            data.append(_hit(entry, i, include_user_metadata))
    info: dict[str, Any] = {"limit_per_page": limit, "total_results": len(entries),
                            "total_inner_matches": total_inner, "page_expires_at": rfc3339(expires)}
    if start + limit < len(entries):
        info["next_page_token"] = encode_token(session_id, page + 1)
    if page > 1:
        info["prev_page_token"] = encode_token(session_id, page - 1)
    return SearchPageResult(data, info, pool)


def _hit(r: dict[str, Any], rank: int, include_user_metadata: bool) -> dict[str, Any]:
    relevance = float(r["relevance"])
    modalities: dict[str, float] = r.get("modalities") or {}
    matched = [m for m, v in modalities.items() if v >= RELEVANCE_THRESHOLD] or list(modalities)[:1]
    hit: dict[str, Any] = {
        "video_id": r["video_id"], "start": round(r["start"], 3), "end": round(r["end"], 3), "rank": rank,
        "score": round(100 * relevance, 2), "confidence": confidence(relevance),
        "modules": [{"type": m, "confidence": confidence(modalities[m])} for m in matched],
        "thumbnail_seq": r.get("thumbnail_seq"),
    }
    if r.get("transcription"):
        hit["transcription"] = r["transcription"]
    if include_user_metadata:
        hit["user_metadata"] = r.get("user_metadata") or {}
    return hit
