"""The `/responses` agent (reference B.20): answers a question over a knowledge store (or an index) with
the local model, using search and analysis as tools, and cites the moments it used.

One turn runs a fixed, bounded plan rather than letting the model pick tools: a 1.5B local model on a
few CPU cores calls tools unreliably and every extra generation costs seconds, while the plan below
always grounds the answer in found moments:

1. ``search`` the scope with the question (`services.search.rank`, all modalities the index has); a
   follow-up with no hits retries with the previous question, then falls back to the videos cited
   earlier in the session, then to the scope's newest videos;
2. ``analyze`` the best videos (at most `MAX_ANALYZED_VIDEOS`) with the question, the conversation so
   far and the found moments (`services.analysis.prepare(...).run`, which streams the text);
3. ``search`` again inside each analysed video with the *answer* as the query, so that the citation
   points at the moment whose words/labels match what the answer says (falling back to step 1's hits).

Every tool call is recorded as a `ToolCall`/`ToolResult` pair (the router returns them as
``function_call``/``function_call_output`` items when the request asks for
``include=["intermediate_outputs"]``). Bounds: input items and characters, tool calls
per request, generation tokens, and wall time (generation stops at the deadline; the response is then
``incomplete``). Sessions keep the last `SESSION_MAX_TURNS` turns per tenant in the metadata store for
`SESSION_TTL_SECONDS` after their last use.

The service speaks the one dialect of the services (issue 11): the typed request (`ResponseInput`, built by
the router) in, domain values out (`Outcome`: the text, its `Citation`s with the span of their markers,
the tool steps, the usage and why it is incomplete). The router (`api/schemas/responses.py`) shapes them
into the response and message objects and the SSE events.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import delete

from framedex.domain_errors import InvalidParameter, NotFound
from framedex.ids import is_id, utcnow
from framedex.services import analysis, search
from framedex.services.indexes import get_index, index_modalities
from framedex.services.platform import Platform
from framedex.services.responses.inputs import Message, ResponseInput, Selection
from framedex.services.search import cache as search_cache
from framedex.storage.tables import IndexedAssetRow
from framedex.storage.tables_knowledge import KnowledgeStoreItemRow, KnowledgeStoreRow, ResponseSessionRow

log = logging.getLogger(__name__)

__all__ = ["Agent", "Citation", "Message", "Outcome", "ResponseInput", "Scope", "Selection", "ToolCall", "ToolResult",
           "Turn", "answer", "prepare", "resolve_scope", "save_turn"]

MAX_TOOL_CALLS = 6
MAX_ANALYZED_VIDEOS = 2
MAX_OUTPUT_TOKENS = 200  # per analysed video
WALL_SECONDS = 300.0
SESSION_TTL_SECONDS = 3600.0
SESSION_MAX_TURNS = 8
HISTORY_CHARS = 1500  # of earlier turns, in the prompt
MAX_CITATIONS_PER_VIDEO = 2


# --- scope, turn and outcome ------------------------------------------------------------------------------


@dataclass
class Scope:
    """What a request reasons over: a knowledge store's hidden index (citations name items) or an index
    given directly as `knowledge_store_id` (a framedex extension; citations then name videos)."""

    knowledge_store_id: str
    index_id: str
    item_of_video: dict[str, str] | None  # video id → item id; None for an index


@dataclass
class Turn:
    question: str
    instructions: str | None
    include_steps: bool
    selected_videos: list[str]
    history: list[dict[str, Any]]
    session_id: str
    new_session: bool


@dataclass
class Citation:
    """A cited moment, and where its ``[n]`` marker sits in `Outcome.text` (``text_start``..``text_end``,
    both inclusive, the marker's leading space excluded)."""

    item_id: str
    video_id: str
    start_sec: float
    end_sec: float
    title: str | None
    text_start: int = 0
    text_end: int = 0


@dataclass(frozen=True)
class ToolCall:
    call_id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ToolResult:
    call_id: str
    output: str  # the tool's result as text (at most 4000 characters)


Step = ToolCall | ToolResult
Emit = Callable[[Step], None]


@dataclass
class Outcome:
    text: str = ""
    steps: list[Step] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    incomplete_reason: str | None = None
    citations: list[Citation] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "incomplete" if self.incomplete_reason else "completed"


def resolve_scope(platform: Platform, tenant_id: str, knowledge_store_id: str) -> Scope:
    with platform.store.session() as s:
        store = s.get(KnowledgeStoreRow, knowledge_store_id) if is_id(knowledge_store_id) else None
        if store is not None and store.tenant_id == tenant_id:
            items = s.query(KnowledgeStoreItemRow).filter_by(store_id=store.id).all()
            return Scope(store.id, store.index_id, {i.video_id: i.id for i in items if i.video_id})
        try:
            index = get_index(s, tenant_id, knowledge_store_id)
        except NotFound:
            raise NotFound("knowledge store", knowledge_store_id) from None
        return Scope(knowledge_store_id, index.id, None)


def _selected_videos(platform: Platform, tenant_id: str, scope: Scope,
                     selections: tuple[Selection, ...]) -> tuple[list[str], list[str]]:
    """(video ids the selections name, a label per selection for `{{sel:N}}`)."""
    from framedex.storage.tables_knowledge import KnowledgeCollectionRow

    videos: list[str] = []
    labels: list[str] = []
    video_of_item = {v: k for k, v in (scope.item_of_video or {}).items()}
    with platform.store.session() as s:
        for sel in selections:
            if sel.kind == "item":
                vid = video_of_item.get(sel.id) if scope.item_of_video is not None else sel.id
                if vid is None:
                    raise NotFound("knowledge store item", sel.id)
                videos.append(vid)
                labels.append(f"item {sel.id}")
            else:
                coll = s.get(KnowledgeCollectionRow, sel.id) if is_id(sel.id) else None
                if coll is None or coll.tenant_id != tenant_id or coll.store_id != scope.knowledge_store_id:
                    raise NotFound("item collection", sel.id)
                videos.extend(v for i2 in coll.item_ids if (v := video_of_item.get(i2)))
                labels.append(f"collection {coll.name!r}")
    return list(dict.fromkeys(videos)), labels


def _load_session(platform: Platform, tenant_id: str, session_id: str | None,
                  scope: Scope) -> tuple[str, list[Any], bool]:
    if session_id is None:
        return f"sess_{uuid.uuid4()}", [], True
    with platform.store.session() as s:
        row = s.get(ResponseSessionRow, session_id)
        if row is None or row.tenant_id != tenant_id or row.expires_at < utcnow():
            raise NotFound("session", session_id)
        if row.knowledge_store_id != scope.knowledge_store_id:
            raise InvalidParameter("knowledge_store_id", "It must match the knowledge store the session was "
                                   "created against.")
        return row.id, list(row.turns), False


def prepare(platform: Platform, tenant_id: str, request: ResponseInput) -> tuple[Scope, Turn]:
    """Load a checked request's scope and session (raises the API's errors, in its order, before any output)."""
    scope = resolve_scope(platform, tenant_id, request.knowledge_store_id)
    selected, labels = _selected_videos(platform, tenant_id, scope, request.selections)
    if request.late is not None:  # found after the store and the selections before it (`ResponseInput`)
        raise request.late
    session_id, turns, new = _load_session(platform, tenant_id, request.session_id, scope)
    messages = request.messages
    question = messages[-1].content
    for n, label in enumerate(labels):  # the model reads what a {{sel:N}} token stands for
        question = question.replace(f"{{{{sel:{n}}}}}", label)
    history = list(turns) + [{"question": m.content if m.role == "user" else "", "answer":
                              m.content if m.role == "assistant" else ""} for m in messages[:-1]]
    return scope, Turn(question.strip(), request.instructions, request.include_steps, selected, history,
                       session_id, new)


# --- the plan --------------------------------------------------------------------------------------------


class _Deadline(Exception):
    pass


@dataclass
class Agent:
    platform: Platform
    tenant_id: str
    scope: Scope
    turn: Turn
    emit_step: Emit | None = None  # called with each tool call and tool result
    on_delta: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] | None = None  # e.g. the streaming client went away
    wall_seconds: float = WALL_SECONDS
    max_tokens: int = MAX_OUTPUT_TOKENS
    outcome: Outcome = field(default_factory=Outcome)
    _tool_calls: int = 0
    _t0: float = field(default_factory=time.monotonic)

    # tools -----------------------------------------------------------------------------------------------

    def _call(self, name: str, arguments: dict[str, Any], fn: Callable[[], Any]) -> Any:
        if self._tool_calls >= MAX_TOOL_CALLS:
            raise _Deadline("max_tool_calls")
        self._tool_calls += 1
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        self._step(ToolCall(call_id, name, arguments))
        result = fn()
        summary = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
        self._step(ToolResult(call_id, summary[:4000]))
        return result

    def _step(self, item: Step) -> None:
        self.outcome.steps.append(item)
        if self.emit_step is not None:
            self.emit_step(item)

    def _search(self, query: str, video_ids: list[str] | None = None, limit: int = 10) -> list[dict[str, Any]]:
        args: dict[str, Any] = {"query": query}
        if video_ids:
            args["video_ids"] = video_ids

        def run() -> list[dict[str, Any]]:
            with self.platform.store.session() as s:
                index = get_index(s, self.tenant_id, self.scope.index_id)
                modalities = index_modalities(index)
            options: list[str] = [o for o in ("visual", "audio") if o in modalities] or ["visual"]
            if "audio" in modalities:
                options.append("transcription")
            request = search.validate(search.SearchRequest(index_id=self.scope.index_id, search_options=options,
                                                           query_text=query[:search.MAX_QUERY_CHARS],
                                                           page_limit=limit))
            ready = search_cache.ready_videos(self.platform, self.tenant_id, self.scope.index_id)
            allowed = set(ready.ids)
            if self.scope.item_of_video is not None:  # only the store's items, never a leftover video
                allowed &= set(self.scope.item_of_video)
            if video_ids:
                allowed &= set(video_ids)
            if not allowed:
                return []
            hits = search.rank(self.platform, self.tenant_id, request, allowed, ready=ready)[:limit]
            return [{"video_id": h["video_id"], "start_sec": round(float(h["start"]), 3),
                     "end_sec": round(float(h["end"]), 3), "score": round(float(h["relevance"]), 3),
                     **({"transcription": h["transcription"]} if h.get("transcription") else {})} for h in hits]

        return list(self._call("search", args, run))

    def _analyze(self, video: IndexedAssetRow, prompt: str, window: tuple[float, float] | None) -> analysis.Result:
        body: dict[str, Any] = {"video_id": video.id, "prompt": prompt, "temperature": 0,
                                "max_tokens": self.max_tokens}
        if window is not None:
            body["start_time"], body["end_time"] = window
        job = analysis.prepare(self.platform, self.tenant_id, analysis.AnalyzeInput.from_body(self.platform, body))

        def on_text(piece: str) -> bool:
            if self.on_delta is not None:
                self.on_delta(piece)
            if time.monotonic() - self._t0 > self.wall_seconds:
                self.outcome.incomplete_reason = "max_wall_time"
                return True  # stop generating: the deadline has passed
            return self.should_stop is not None and self.should_stop()

        args = {"video_id": video.id, "prompt": self.turn.question,
                **({"start_sec": window[0], "end_sec": window[1]} if window else {})}
        result: analysis.Result = self._call("analyze", args, lambda: job.run(on_text))
        return result

    # plan ------------------------------------------------------------------------------------------------

    def _candidates(self) -> list[tuple[str, list[dict[str, Any]]]]:
        """Videos to analyse, best first, each with the moments search found in it."""
        selected = self.turn.selected_videos or None
        hits = self._search(self.turn.question, selected)
        if not hits and self.turn.history:
            previous = next((t["question"] for t in reversed(self.turn.history) if t.get("question")), "")
            if previous:
                hits = self._search(f"{previous} {self.turn.question}", selected)
        by_video: dict[str, list[dict[str, Any]]] = {}
        for h in hits:
            by_video.setdefault(h["video_id"], []).append(h)
        order = list(by_video)
        if not order:  # nothing matched: earlier cited videos, the selection, or the newest videos
            cited = [c["video_id"] for t in reversed(self.turn.history) for c in t.get("citations", [])]
            order = list(dict.fromkeys(cited + (self.turn.selected_videos or [])))
            if not order:
                ready = search_cache.ready_videos(self.platform, self.tenant_id, self.scope.index_id)
                allowed = [v.id for v in ready.videos
                           if self.scope.item_of_video is None or v.id in self.scope.item_of_video]
                order = allowed[-MAX_ANALYZED_VIDEOS:][::-1]
        return [(v, by_video.get(v, [])) for v in order[:MAX_ANALYZED_VIDEOS]]

    def _prompt(self, moments: list[dict[str, Any]]) -> str:
        parts: list[str] = []
        if self.turn.instructions:
            parts.append(f"Instructions: {self.turn.instructions.strip()}")
        history = "".join(f"Q: {t.get('question', '')}\nA: {t.get('answer', '')}\n" for t in self.turn.history)
        if history:
            parts.append("Earlier in this conversation:\n" + history[-HISTORY_CHARS:])
        if moments:
            spans = ", ".join(f"{m['start_sec']:.0f}s-{m['end_sec']:.0f}s" for m in moments[:5])
            parts.append(f"Search found these moments relevant to the question: {spans}.")
        parts.append(f"Question: {self.turn.question}\nAnswer briefly and only from the video.")
        return "\n\n".join(parts)

    def run(self) -> Outcome:
        out = self.outcome
        try:
            candidates = self._candidates()
            if not candidates:
                out.text = "There are no ready videos to answer from in this knowledge store yet."
                if self.on_delta is not None:
                    self.on_delta(out.text)
                return out
            for n, (video_id, moments) in enumerate(candidates):
                with self.platform.store.session() as s:
                    video = s.get(IndexedAssetRow, video_id)
                if video is None or video.status != "ready":
                    continue
                duration = float(video.duration or 0.0)
                window = _window(moments, duration)
                if n and self.on_delta is not None:
                    self.on_delta("\n\n")
                if n:
                    out.text += "\n\n"
                result = self._analyze(video, self._prompt(moments), window)
                out.input_tokens += result.input_tokens
                out.output_tokens += result.output_tokens
                answer = result.data.strip()
                out.text += answer
                if result.finish_reason == "length" and out.incomplete_reason is None:
                    out.incomplete_reason = "max_output_tokens"
                spans = self._ground(video, answer, moments, window)
                title = video.filename
                for a, b in spans:
                    item_id = self.scope.item_of_video.get(video.id, video.id) if self.scope.item_of_video \
                        else video.id
                    marker = f" [{len(out.citations) + 1}]"
                    start = len(out.text) + 1
                    out.text += marker
                    if self.on_delta is not None:
                        self.on_delta(marker)
                    out.citations.append(Citation(item_id, video.id, a, b, title, start, start + len(marker) - 1))
                if out.incomplete_reason == "max_wall_time":
                    break
        except _Deadline as stop:
            out.incomplete_reason = str(stop)
        return out

    def _ground(self, video: IndexedAssetRow, answer: str, moments: list[dict[str, Any]],
                window: tuple[float, float] | None) -> list[tuple[float, float]]:
        """Where in the video the answer's evidence is: a search for the answer inside the video, else the
        question's hits, else the analysed window."""
        duration = float(video.duration or 0.0)
        found: list[dict[str, Any]] = []
        if answer and self._tool_calls < MAX_TOOL_CALLS:
            found = self._search(_grounding_query(answer, self.turn.question), [video.id], limit=3)
        chosen = found or moments
        spans = [(_clamp(m["start_sec"], duration), _clamp(m["end_sec"], duration)) for m in chosen]
        spans = [(a, b) for a, b in spans if b > a][:MAX_CITATIONS_PER_VIDEO]
        if not spans:
            a, b = window if window is not None else (0.0, duration)
            spans = [(round(a, 3), round(b, 3))]
        return spans


def _clamp(t: float, duration: float) -> float:
    return round(min(max(0.0, float(t)), duration) if duration > 0 else max(0.0, float(t)), 3)


def _grounding_query(answer: str, question: str) -> str:
    """The answer's content words (the question's words removed), so that grounding looks for the moment
    that says or shows what the answer adds rather than what the question already named."""
    asked = set(re.findall(r"[a-z0-9]+", question.lower()))
    words = [w for w in re.findall(r"[A-Za-z0-9']+", answer) if w.lower() not in asked and len(w) > 2]
    return " ".join(words[:30]) or answer[:200]


def _window(moments: list[dict[str, Any]], duration: float) -> tuple[float, float] | None:
    """The part of the video to read: all of a short video, else the found moments with some context
    (so a long video is not map-reduced for a question about one scene)."""
    if duration <= 600 or not moments:
        return None
    a = max(0.0, min(m["start_sec"] for m in moments[:5]) - 60)
    b = min(duration, max(m["end_sec"] for m in moments[:5]) + 60)
    return (a, min(b, a + 600))


# --- the turn ------------------------------------------------------------------------------------------


def answer(platform: Platform, tenant_id: str, scope: Scope, turn: Turn) -> Outcome:
    """Run one prepared turn (`prepare`) and save it to the session. (A stream runs its own `Agent`, with
    callbacks, and saves the turn with `save_turn` once it has the outcome.)"""
    outcome = Agent(platform, tenant_id, scope, turn).run()
    save_turn(platform, tenant_id, scope, turn, outcome)
    return outcome


def save_turn(platform: Platform, tenant_id: str, scope: Scope, turn: Turn, outcome: Outcome) -> None:
    entry = {"question": turn.question, "answer": outcome.text,
             "citations": [{"video_id": c.video_id, "item_id": c.item_id, "start_sec": c.start_sec,
                            "end_sec": c.end_sec} for c in outcome.citations]}
    now = utcnow()
    expires = now + timedelta(seconds=SESSION_TTL_SECONDS)
    with platform.store.session() as s:
        # Expired sessions of this tenant go when a new one starts, so the table does not grow forever.
        if turn.new_session:
            s.execute(delete(ResponseSessionRow).where(ResponseSessionRow.tenant_id == tenant_id,
                                                       ResponseSessionRow.expires_at < now))
        row = s.get(ResponseSessionRow, turn.session_id)
        if row is None:
            row = ResponseSessionRow(id=turn.session_id, tenant_id=tenant_id,
                                     knowledge_store_id=scope.knowledge_store_id, turns=[], expires_at=expires)
            s.add(row)
        row.turns = [*row.turns, entry][-SESSION_MAX_TURNS:]
        row.expires_at = expires
