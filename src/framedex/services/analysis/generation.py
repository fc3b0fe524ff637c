"""One open-ended generation (``/analyze``, ``/generate``): the prompt (the system message and the video's
timeline fitted into the prompt budget, map-reduced into cached notes when too long), the validated request
(``Analysis``: run, or streamed as text pieces) and its ``Result``. The API layer shapes them into the wire
bodies and the NDJSON stream (``api/schemas/analyze.py``; issue 11).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from framedex.domain_errors import NotFound, ServiceError
from framedex.models.base import ChatMessage
from framedex.models.llm import (
    LLMError,
    OnText,
    estimate_tokens,
    resolve_model,
    tenant_scope,
)
from framedex.services.analysis.params import (
    MAX_PROMPT_TOKENS,
    AnalyzeInput,
    GenerationOptions,
    _generation_failed,
    check_window,
)
from framedex.services.analysis.structured import generate_json
from framedex.services.analysis.timeline import Timeline, load_timeline
from framedex.services.analysis.videos import VideoRef, resolve_video
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow

log = logging.getLogger(__name__)

_NOTES_MAX_TOKENS = 160

SYSTEM_PROMPT = (
    "You are a video analyst. You cannot watch the video; instead you are given its timeline, extracted "
    "by machines: SAID lines are the speech transcript; every other line is one scene, where SEEN lists "
    "things recognised with confidence, LOOK says how the picture looks (such as 'black and white', "
    "'night', 'cartoon'; not things in it), TEXT ON SCREEN is text read from the frames and SOUNDS are "
    "sound events. Times are seconds "
    "from the start of the video. What is said, mentioned, discussed or talked about comes from the SAID "
    "lines only; what is shown comes from the SEEN and TEXT ON SCREEN lines. Describe the video in plain "
    "words a viewer would use (a terminal window with commands, a page of text, a cartoon), name only "
    "what the timeline supports and never guess beyond it; speak about 'the video' and never mention the "
    "timeline, transcripts or detectors."
)


T = TypeVar("T")


def as_tenant(tenant_id: str, fn: Callable[..., T]) -> Callable[..., T]:
    """``fn``, with the generations it starts queued as ``tenant_id``'s: the model takes tenants'
    generations in fair turns (``models.llm.FairScheduler``), and work outside any tenant (preparation
    jobs) shares one anonymous turn. The scope is set where ``fn`` runs, so the wrapper can be handed
    to another thread (a work pool, the stream's generator thread)."""

    def scoped(*args: Any, **kwargs: Any) -> T:
        with tenant_scope(tenant_id):
            return fn(*args, **kwargs)

    return scoped


# --- prompts and context -----------------------------------------------------------------------------


@dataclass
class Context:
    text: str
    start: float
    end: float
    mapped: bool = False  # built from map-reduce notes


def _timeline_message(ctx: Context) -> str:
    what = "Notes on consecutive parts of the video" if ctx.mapped else "Video timeline"
    body = ctx.text or "(nothing was detected in this video: no speech, no on-screen text, no recognised objects)"
    return f"{what} ({ctx.start:.0f}s to {ctx.end:.0f}s):\n{body}"


def _notes_key(video_id: str, start: float, end: float, budget: int) -> str:
    digest = hashlib.sha1(f"{start:.2f}:{end:.2f}:{budget}:v1".encode()).hexdigest()[:16]
    return f"videos/{video_id}/analysis/notes-{digest}.json"


def build_context(platform: Platform, timeline: Timeline, start: float, end: float, *, budget: int,
                  llm: Any = None, model: str | None = None, on_progress: Callable[[], bool] | None = None) -> Context:
    """The window's timeline rendered to fit ``budget`` tokens; map-reduced into notes when too long."""
    window = timeline.window(start, end)
    text, _level = window.render(budget)
    if estimate_tokens(text) <= budget:
        return Context(text, start, end)
    key = _notes_key(timeline.video_id, start, end, budget)
    with contextlib.suppress(Exception):
        if platform.blobs.exists(key):
            with platform.blobs.open(key) as f:
                cached = json.loads(f.read())
            return Context(cached["text"], start, end, mapped=True)
    # Map: windows whose level-1 rendering fits the budget; each becomes a few lines of notes.
    if llm is None:
        llm = platform.models.llm()
    full_tokens = estimate_tokens(window.render_level(1))
    parts = max(2, -(-full_tokens // max(256, budget - 200)))
    parts = min(parts, max(2, budget // 60))
    span = (end - start) / parts
    per_note = max(48, min(_NOTES_MAX_TOKENS, (budget - 100) // parts))
    notes: list[str] = []
    for i in range(parts):
        a, b = start + i * span, start + (i + 1) * span if i < parts - 1 else end
        part_text, _ = timeline.window(a, b).render(budget)
        if not part_text.strip():
            continue
        messages = [ChatMessage("system", SYSTEM_PROMPT),
                    ChatMessage("user", _timeline_message(Context(part_text, a, b))
                                + "\n\nWrite compact notes on this part of the video: the topics and key facts "
                                "that are said (names, numbers, claims), on-screen text, and what is shown. "
                                "No introduction.")]
        gen = llm.complete(messages, max_tokens=per_note, temperature=0.0, model=model)
        notes.append(f"[{a:.0f}s-{b:.0f}s] {gen.text.strip()}")
        if on_progress is not None and on_progress():
            break
    text = "\n".join(notes)
    with contextlib.suppress(Exception):
        platform.blobs.put_bytes(key, json.dumps({"text": text}).encode())
    return Context(text, start, end, mapped=True)


def _budget(platform: Platform, prompt: str, max_tokens: int) -> int:
    # The same for every request (never fitted to this prompt or max_tokens): then every question on a video
    # starts with the same timeline text, and llama.cpp reuses that prefix's KV cache (or its saved state,
    # models/llm_state.py). Room is kept for the longest prompt; a longer reply ends at the context's end.
    s = platform.settings
    room = s.llm_context - MAX_PROMPT_TOKENS - estimate_tokens(SYSTEM_PROMPT) - 1024
    return max(256, min(s.llm_prompt_budget, room))


# --- one generation job ------------------------------------------------------------------------------


@dataclass
class Result:
    generation_id: str
    data: str
    finish_reason: str
    input_tokens: int
    output_tokens: int
    time_to_first_token: float | None = None
    tokens_per_second: float | None = None
    total_seconds: float = 0.0
    warning: str | None = None

    # `usage` and `error` are wire shapes, kept here because the worker needs them with no router in between:
    # `tasks.py` stores a task's result and error in wire form (answered as is by `/analyze/tasks`, and sent in
    # webhooks). The API layer uses the same ones for `/analyze` and its stream, so the texts cannot drift.
    def usage(self) -> dict[str, int]:
        return {"output_tokens": self.output_tokens, "input_tokens": self.input_tokens}

    def error(self) -> dict[str, str] | None:
        if self.finish_reason == "length":
            return {"code": "max_tokens_reached",
                    "message": "The response reached the maximum length (max_tokens or the context window) "
                               "and is truncated. Increase max_tokens or shorten the input."}
        if self.warning:
            return {"message": self.warning}
        return None


@dataclass
class Analysis:
    """A validated request, ready to run (``run``) or stream (``events``)."""

    platform: Platform
    video: VideoRef
    options: GenerationOptions
    generation_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def run(self, on_text: OnText | None = None) -> Result:
        platform, opts = self.platform, self.options
        t0 = time.perf_counter()
        from framedex.services.analysis import (
            prepared as analysis_prepared,  # the default summary, prepared at index time
        )

        if (prepared := analysis_prepared.serve_analysis(self, on_text)) is not None:
            return prepared
        with platform.store.session() as s:
            row = s.get(IndexedAssetRow, self.video.video_id)
            if row is None:
                raise NotFound("video", self.video.video_id)
            timeline = load_timeline(platform, row)
        start, end = check_window(opts.start_time, opts.end_time, timeline.duration or self.video.duration)
        llm = platform.models.llm()
        model = resolve_model(platform.settings, opts.model_name)
        budget = _budget(platform, opts.prompt, opts.max_tokens)
        try:
            ctx = build_context(platform, timeline, start, end, budget=budget, llm=llm, model=model)
            messages = [ChatMessage("system", SYSTEM_PROMPT),
                        ChatMessage("user", _timeline_message(ctx) + "\n\nRequest: " + opts.prompt.strip())]
            if opts.json_schema is not None:
                value, gen, repaired = generate_json(llm, messages, opts.json_schema, max_tokens=opts.max_tokens,
                                                     temperature=opts.temperature, model=model)
                text = json.dumps(value, ensure_ascii=False)
                if on_text is not None:
                    on_text(text)
                return Result(self.generation_id, text, "stop", gen.input_tokens, gen.output_tokens,
                              time.perf_counter() - t0, gen.tokens_per_second, time.perf_counter() - t0,
                              warning="The model could not produce valid JSON; a minimal valid value is returned."
                              if repaired else None)
            first: list[float] = []

            def relay(piece: str) -> bool:
                if not first:
                    first.append(time.perf_counter() - t0)
                return bool(on_text(piece)) if on_text is not None else False

            gen = llm.complete(messages, max_tokens=opts.max_tokens, temperature=opts.temperature, model=model,
                               on_text=relay)
        except LLMError as exc:
            raise _generation_failed(exc) from exc
        return Result(self.generation_id, gen.text.strip() if not gen.stopped else gen.text, gen.finish_reason,
                      gen.input_tokens, gen.output_tokens, first[0] if first else None, gen.tokens_per_second,
                      time.perf_counter() - t0)

    def stream(self) -> Generator[str | Result | Exception, None, None]:
        """The generation as it happens, run on a thread of its own: the text pieces, then the ``Result``, or
        the exception that ended it (a ``ServiceError``, or anything else, logged here). Closing the iterator
        (the client went away) stops the generation."""
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def on_text(piece: str) -> bool:
            pieces.put(("text", piece))
            return stop.is_set()

        def work() -> None:
            try:
                pieces.put(("end", self.run(on_text)))
            except ServiceError as exc:
                pieces.put(("error", exc))
            except Exception as exc:
                log.exception("streamed analysis failed")
                pieces.put(("error", exc))

        threading.Thread(target=work, name="framedex-analyze-stream", daemon=True).start()
        try:
            while True:
                kind, value = pieces.get()
                yield value
                if kind != "text":
                    return
        finally:
            stop.set()


def prepare(platform: Platform, tenant_id: str, request: AnalyzeInput, *,
            wait_seconds: float | None = None) -> Analysis:
    """Resolve the video of a checked request (raises the API's errors): the ``Analysis`` to run or stream."""
    video = resolve_video(platform, tenant_id, video_id=request.video_id, video=request.video,
                          wait_seconds=wait_seconds)
    check_window(request.start_time, request.end_time, video.duration)
    options = GenerationOptions(prompt=request.prompt, temperature=request.temperature,
                                max_tokens=request.max_tokens, json_schema=request.json_schema,
                                model_name=request.model_name, start_time=request.start_time,
                                end_time=request.end_time)
    return Analysis(platform, video, options)


def analyze(platform: Platform, tenant_id: str, request: AnalyzeInput) -> Result:
    """``POST /analyze`` with ``stream: false`` (the router shapes the ``Result`` into its body)."""
    return prepare(platform, tenant_id, request).run()


def generate(platform: Platform, tenant_id: str, request: AnalyzeInput) -> Analysis:
    """``POST /generate`` (older API): like ``/analyze`` with a ``video_id``, never with a JSON schema (build
    the request with ``AnalyzeInput.from_generate_body``); the caller streams by default."""
    return prepare(platform, tenant_id, replace(request, json_schema=None))
