"""Search: retrieve candidates per modality, score, filter, rank, group, and page with expiring tokens.

Retrievers are per modality (`transcription` is lexical full-text search over transcript
segments here); each returns `Candidate`s with a relevance in [0, 1] that fusion combines.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from framedex.ids import new_id, rfc3339, utcnow
from framedex.services import entities
from framedex.services.errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.services.indexes import get_index
from framedex.services.platform import Platform
from framedex.services.videos import metadata_matches
from framedex.storage.tables import ClipRow, IndexedAssetRow, SearchSessionRow, SpeechSegmentRow

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


@dataclass(frozen=True)
class Candidate:
    video_id: str
    start: float
    end: float
    modality: str
    relevance: float  # [0, 1]
    transcription: str | None = None


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


_WORD = re.compile(r"\w+", re.UNICODE)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def lexical_relevance(query: str, text: str) -> float:
    """Share of query words present in the text (stemmed), with a bonus for the exact phrase."""
    q = [_stem(w) for w in _WORD.findall(query.lower())]
    if not q:
        return 0.0
    words = [_stem(w) for w in _WORD.findall(text.lower())]
    present = set(words)
    coverage = sum(1 for w in q if w in present) / len(q)
    phrase = " ".join(q) in " ".join(words)
    return min(1.0, 0.8 * coverage + (0.2 if phrase else 0.0))


Retriever = Callable[[Platform, str, SearchRequest, set[str]], list[Candidate]]


def retrieve_transcription_lexical(platform: Platform, tenant_id: str, request: SearchRequest,
                                   video_ids: set[str]) -> list[Candidate]:
    query = request.query_text or ""
    with platform.store.session() as s:
        hits = platform.lexical.search(s, tenant_id=tenant_id, index_id=request.index_id, query=query,
                                       limit=MAX_RESULTS * 2)
        if not hits:
            return []
        segments = {
            r.id: r for r in s.scalars(select(SpeechSegmentRow).where(
                SpeechSegmentRow.id.in_([h.segment_id for h in hits])))
        }
    out = []
    for hit in hits:
        seg = segments.get(hit.segment_id)
        if seg is None or seg.video_id not in video_ids:
            continue
        out.append(Candidate(seg.video_id, seg.start, seg.end, "transcription",
                             lexical_relevance(query, seg.text), seg.text))
    return out


# Modalities whose retrievers exist; visual/audio/semantic are added by the modality issues.
RETRIEVERS: dict[str, list[Retriever]] = {"transcription": [retrieve_transcription_lexical]}


def confidence(relevance: float) -> str:
    return "high" if relevance >= 0.75 else "medium" if relevance >= 0.5 else "low"


def _filter_videos(videos: list[IndexedAssetRow], flt: dict[str, Any]) -> list[IndexedAssetRow]:
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


def _fuse(candidates: list[Candidate], request: SearchRequest) -> list[dict[str, Any]]:
    """Merge candidates of the same video span; `and` keeps spans every requested modality matched."""
    merged: dict[tuple[str, float, float], dict[str, Any]] = {}
    for c in candidates:
        key = (c.video_id, round(c.start, 2), round(c.end, 2))
        item = merged.setdefault(key, {"video_id": c.video_id, "start": c.start, "end": c.end,
                                       "modalities": {}, "transcription": None})
        item["modalities"][c.modality] = max(item["modalities"].get(c.modality, 0.0), c.relevance)
        if c.transcription:
            item["transcription"] = c.transcription
    results = []
    for item in merged.values():
        scores = item["modalities"]
        if request.operator == "and" and set(request.search_options) - set(scores):
            continue
        relevance = max(scores.values()) if request.operator == "or" else min(scores.values())
        item["relevance"] = relevance
        results.append(item)
    results.sort(key=lambda r: (-r["relevance"], r["video_id"], r["start"]))
    return results


def run_search(platform: Platform, tenant_id: str, request: SearchRequest) -> SearchPageResult:
    request = validate(request)
    with platform.store.session() as s:
        get_index(s, tenant_id, request.index_id)
        videos = list(s.scalars(select(IndexedAssetRow).where(
            IndexedAssetRow.tenant_id == tenant_id, IndexedAssetRow.index_id == request.index_id,
            IndexedAssetRow.status == "ready")))
        clips_by_video: dict[str, list[tuple[float, float, int, str | None]]] = {}
        for clip in s.scalars(select(ClipRow).where(ClipRow.index_id == request.index_id)):
            clips_by_video.setdefault(clip.video_id, []).append((clip.start, clip.end, clip.seq, clip.thumbnail_key))
    pool = {"total_count": len(videos), "total_duration": round(sum(v.duration or 0.0 for v in videos), 3),
            "index_id": request.index_id}
    allowed = _filter_videos(videos, request.filter) if request.filter else videos
    allowed_ids = {v.id for v in allowed}
    metadata = {v.id: v.user_metadata or {} for v in allowed}
    # `<@entity_id>` in the query: the entities pick the clips, the remaining words rank them.
    entity_ids, rest = entities.split_entity_query(request.query_text)
    if entity_ids:
        request.query_text = rest or None
    candidates: list[Candidate] = []
    for option in request.search_options:
        for retriever in RETRIEVERS.get(option, []):
            if option == "transcription" and retriever is retrieve_transcription_lexical \
                    and "lexical" not in request.transcription_options and len(RETRIEVERS[option]) > 1:
                continue
            if request.query_text:
                candidates.extend(retriever(platform, tenant_id, request, allowed_ids))
    fused = _fuse(candidates, request)
    if entity_ids:
        fused = entities.combine_with_entities(
            entities.retrieve_entity_clips(platform, tenant_id, request, allowed_ids, entity_ids), fused,
            has_rest=bool(rest))
    fused = [r for r in fused if r["relevance"] >= RELEVANCE_THRESHOLD][:MAX_RESULTS]
    for r in fused:
        r["thumbnail_seq"] = _clip_for(clips_by_video.get(r["video_id"], []), r["start"], r["end"])
        if request.include_user_metadata:
            r["user_metadata"] = metadata.get(r["video_id"], {})
    entries = _group(fused) if request.group_by == "video" else fused
    session_id = new_id()
    expires = utcnow() + timedelta(seconds=platform.settings.search_page_ttl_seconds)
    with platform.store.session() as s:
        s.add(SearchSessionRow(id=session_id, tenant_id=tenant_id, index_id=request.index_id,
                               page_limit=request.page_limit, results=entries, search_pool=pool,
                               include_user_metadata=request.include_user_metadata, expires_at=expires))
    return _page(session_id, entries, pool, 1, request.page_limit, expires, len(fused))


# Lexical hits that match under half of the query's words are noise.
RELEVANCE_THRESHOLD = 0.4


def _clip_for(clips: list[tuple[float, float, int, str | None]], start: float, end: float) -> int | None:
    middle = (start + end) / 2
    for c_start, c_end, seq, key in clips:
        if c_start <= middle <= c_end and key:
            return seq
    return None


def _group(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
        return session_id, int(page)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid") from exc


def retrieve_page(platform: Platform, tenant_id: str, token: str) -> SearchPageResult:
    session_id, page = decode_token(token)
    with platform.store.session() as s:
        row = s.get(SearchSessionRow, session_id)
        if row is None or row.tenant_id != tenant_id:
            raise NotFound("search page", token)
        if row.expires_at < utcnow():
            raise ServiceError("The page token has expired; run the search again.", code="search_page_token_expired")
        total_clips = sum(len(e["clips"]) for e in row.results) if row.results and "clips" in row.results[0] \
            else len(row.results)
        return _page(row.id, row.results, row.search_pool, page, row.page_limit, row.expires_at, total_clips)


def _page(session_id: str, entries: list[dict[str, Any]], pool: dict[str, Any], page: int, limit: int,
          expires: Any, total_inner: int) -> SearchPageResult:
    start = (page - 1) * limit
    window = entries[start:start + limit]
    data = []
    for i, entry in enumerate(window, start=start + 1):
        if "clips" in entry:
            data.append({"id": entry["id"], "rank": i, "user_metadata": entry.get("user_metadata"),
                         "clips": [_hit(c, rank) for rank, c in enumerate(entry["clips"], start=1)]})
        else:
            data.append(_hit(entry, i))
    info: dict[str, Any] = {"limit_per_page": limit, "total_results": len(entries),
                            "total_inner_matches": total_inner, "page_expires_at": rfc3339(expires)}
    if start + limit < len(entries):
        info["next_page_token"] = encode_token(session_id, page + 1)
    if page > 1:
        info["prev_page_token"] = encode_token(session_id, page - 1)
    return SearchPageResult(data, info, pool)


def _hit(r: dict[str, Any], rank: int) -> dict[str, Any]:
    relevance = float(r["relevance"])
    hit = {
        "video_id": r["video_id"], "start": round(r["start"], 3), "end": round(r["end"], 3), "rank": rank,
        "score": round(100 * relevance, 2), "confidence": confidence(relevance),
        "modules": [{"type": m, "confidence": confidence(v)} for m, v in r["modalities"].items()],
        "thumbnail_seq": r.get("thumbnail_seq"),
    }
    if r.get("transcription"):
        hit["transcription"] = r["transcription"]
    if r.get("user_metadata") is not None:
        hit["user_metadata"] = r["user_metadata"]
    return hit
