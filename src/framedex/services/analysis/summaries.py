"""Summaries, chapters and highlights (``/summarize``) and gists (``/gist``): fixed prompts and schemas over
the video's timeline, answered from the outputs prepared at index time when the request is the default one
(``prepared.py``).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from framedex.domain_errors import NotFound
from framedex.models.base import ChatMessage
from framedex.models.llm import (
    LLMError,
    resolve_model,
)
from framedex.services.analysis import timeline as timeline_service
from framedex.services.analysis.generation import SYSTEM_PROMPT, _budget, _timeline_message, build_context, prepare
from framedex.services.analysis.outputs import Chapter, Gist, Highlight, Summary, Usage
from framedex.services.analysis.params import (
    DEFAULT_TEMPERATURE,
    AnalyzeInput,
    GistInput,
    SummarizeInput,
    _generation_failed,
)
from framedex.services.analysis.structured import generate_json
from framedex.services.analysis.timeline import Timeline, load_timeline, spans_from_boundaries
from framedex.services.analysis.videos import resolve_video
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow

SUMMARY_PROMPT = (
    "Summarize the video in one paragraph (3 to 6 sentences) for someone who has not seen it. Go through "
    "the video in order and say in plain words what each part shows, says or writes on screen, so that "
    "every main subject is named; keep each part short and do not list every detail."
)


def _embedder(platform: Platform) -> Callable[[list[str]], Any] | None:
    try:
        text = platform.models.text()
    except Exception:
        return None

    def embed(texts: list[str]) -> Any:
        return text.embed(texts)

    return embed


def summarize(platform: Platform, tenant_id: str, request: SummarizeInput) -> Summary:
    from framedex.services.analysis import prepared as analysis_prepared  # default outputs prepared at index time

    if (prepared := analysis_prepared.serve_summarize(platform, tenant_id, request)) is not None:
        return prepared
    if request.kind == "summary":
        result = prepare(platform, tenant_id, request.as_analysis(SUMMARY_PROMPT)).run()
        return Summary(result.generation_id, "summary", Usage(result.output_tokens, result.input_tokens),
                       text=result.data)
    video = resolve_video(platform, tenant_id, video_id=request.video_id, video=request.video)
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video.video_id)
        if row is None:
            raise NotFound("video", video.video_id)
        timeline = load_timeline(platform, row)
    duration = timeline.duration or video.duration
    options: dict[str, Any] = {"extra": request.instructions, "temperature": request.temperature,
                               "max_tokens": request.max_tokens or 1024, "model_name": request.model_name}
    try:
        if request.kind == "chapter":
            chapters, usage = make_chapters(platform, timeline, duration, **options)
            return Summary(str(uuid.uuid4()), "chapter", usage, chapters=chapters)
        highlights, usage = make_highlights(platform, timeline, duration, **options)
        return Summary(str(uuid.uuid4()), "highlight", usage, highlights=highlights)
    except LLMError as exc:
        raise _generation_failed(exc) from exc


def chapter_boundaries(platform: Platform, timeline: Timeline, duration: float) -> list[float]:
    """Scene changes (shot cuts where what is seen, read, heard or said changes), merged to chapter length;
    the sentence embedder is loaded only for videos with speech (topic changes inside long scenes)."""
    embed = _embedder(platform) if timeline.speech else None
    return [b for b in timeline_service.chapter_boundaries(timeline, embed) if 0 < b < duration]


def _section_text(timeline: Timeline, a: float, b: float, budget: int) -> str:
    text, _ = timeline.window(a, b).render(budget)
    return text or "(nothing detected)"


CHAPTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 80},
                   "summary": {"type": "string", "minLength": 1, "maxLength": 400}},
    "required": ["title", "summary"], "additionalProperties": False,
}
CHAPTER_REQUEST = ("Below is what is seen, read, heard and said in one chapter of a video. Write a short "
                   "descriptive title (a few words) and a one-sentence summary of this chapter only.")


def make_chapters(platform: Platform, timeline: Timeline, duration: float, *, extra: str | None = None,
                  temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = 1024,
                  model_name: str | None = None) -> tuple[tuple[Chapter, ...], Usage]:
    """Chapters whose boundaries are where the content changes (see ``chapter_boundaries``); the model
    only writes each chapter's title and summary, one chapter per request.

    One request for all chapters let the small model drift: on a 231-s real composite the summaries of chapters
    3-9 described later chapters (a cup at 57 s, shown at 115 s), and on an 11-minute one every summary repeated
    the narration of the first. A request per chapter reads only that chapter; its instructions come first, so
    llama.cpp reuses their processed prompt from one chapter to the next."""
    boundaries = chapter_boundaries(platform, timeline, duration)
    spans = spans_from_boundaries(0.0, duration, boundaries)
    llm = platform.models.llm()
    n = len(spans)
    # titles need the gist of each chapter, not all of it: keep each prompt short (prompt eval is slow on CPU)
    budget = max(120, min(400, min(1600, platform.settings.llm_prompt_budget) // max(1, n)))
    request = CHAPTER_REQUEST + (f"\nAdditional instructions: {extra}" if extra else "")
    # room for the schema's longest answer (80 + 400 characters): a reply cut short is invalid JSON and retried
    per_chapter = max(128, max_tokens // max(1, n))
    model = resolve_model(platform.settings, model_name)
    chapters = []
    output_tokens = input_tokens = 0
    for i, (a, b) in enumerate(spans):
        messages = [ChatMessage("system", SYSTEM_PROMPT),
                    ChatMessage("user", f"{request}\n\nChapter ({a:.0f}s-{b:.0f}s):\n"
                                        f"{_section_text(timeline, a, b, budget)}")]
        value, gen, _ = generate_json(llm, messages, CHAPTER_SCHEMA, max_tokens=per_chapter,
                                      temperature=temperature, model=model)
        item = value if isinstance(value, dict) else {}
        output_tokens += gen.output_tokens
        input_tokens += gen.input_tokens
        chapters.append(Chapter(i + 1, round(a), round(b), round(a, 2), round(b, 2),
                                str(item.get("title") or f"Part {i + 1}").strip(),
                                str(item.get("summary") or "").strip()))
    return tuple(chapters), Usage(output_tokens, input_tokens)


def make_highlights(platform: Platform, timeline: Timeline, duration: float, *, extra: str | None = None,
                    temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = 1024,
                    model_name: str | None = None) -> tuple[tuple[Highlight, ...], Usage]:
    """Key moments. The model picks each moment's start among real moments of the timeline (transcript
    segment starts and shot cuts, enforced by the schema's enum); each highlight runs to the end of the
    material that starts there (at most 20 s), in order and not overlapping."""
    candidates = sorted({round(e.start) for e in timeline.speech} | {round(c) for c in timeline.cuts}
                        | {round(e.start) for e in timeline.events if e.kind == "ocr"})
    candidates = [c for c in candidates if 0 <= c < duration]
    if not candidates:
        candidates = [round(t) for t in _grid(duration, max(5.0, duration / 20))]
    if len(candidates) > 120:
        stride = len(candidates) / 120
        candidates = sorted({candidates[int(i * stride)] for i in range(120)})
    count = int(max(1, min(6, len(candidates), duration // 30 + 1)))
    llm = platform.models.llm()
    ctx = build_context(platform, timeline, 0.0, duration, budget=_budget(platform, "", 0), llm=llm)
    schema = {
        "type": "object",
        "properties": {"highlights": {"type": "array", "minItems": 1, "maxItems": count, "items": {
            "type": "object",
            "properties": {"start": {"type": "integer", "enum": candidates},
                           "title": {"type": "string", "minLength": 1, "maxLength": 80},
                           "summary": {"type": "string", "minLength": 1, "maxLength": 300}},
            "required": ["start", "title", "summary"], "additionalProperties": False}}},
        "required": ["highlights"], "additionalProperties": False,
    }
    request = (f"List up to {count} of the most important moments of the video, in chronological order. "
               "For each give its start time in seconds (a time from the timeline), a short title and a "
               "one-sentence description.")
    if extra:
        request += f"\nAdditional instructions: {extra}"
    messages = [ChatMessage("system", SYSTEM_PROMPT),
                ChatMessage("user", _timeline_message(ctx) + f"\n\nRequest: {request}")]
    value, gen, _ = generate_json(llm, messages, schema, max_tokens=max(max_tokens, 80 * count + 40),
                                  temperature=temperature, model=resolve_model(platform.settings, model_name))
    items = [h for h in (value.get("highlights", []) if isinstance(value, dict) else []) if isinstance(h, dict)]
    picked: dict[int, dict[str, Any]] = {}
    for h in items:
        start = h.get("start")
        if isinstance(start, int) and 0 <= start < duration and start not in picked:
            picked[start] = h
    starts = sorted(picked)
    highlights = []
    for i, s in enumerate(starts):
        nxt = starts[i + 1] if i + 1 < len(starts) else duration
        end = min(_moment_end(timeline, float(s)), float(nxt), s + 20.0, duration)
        if end - s < 1.0:
            end = min(s + min(5.0, nxt - s), duration)
        if end <= s:
            continue
        h = picked[s]
        highlights.append(Highlight(s, round(end), float(s), round(end, 2), str(h.get("title", "")).strip(),
                                    str(h.get("summary", "")).strip()))
    return tuple(highlights), Usage(gen.output_tokens, gen.input_tokens)


def _grid(duration: float, step: float) -> list[float]:
    return [i * step for i in range(int(duration // step) + 1) if i * step < duration]


def _moment_end(timeline: Timeline, start: float) -> float:
    """End of the transcript segment (or shot) that starts near ``start``; else start + 10 s."""
    for e in timeline.speech:
        if abs(e.start - start) <= 1.0:
            return e.end
    later = [c for c in timeline.cuts if c > start + 1.0]
    return later[0] if later else start + 10.0


def gist_request(types: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """The prompt and the JSON schema that ask the model for the gist ``types``."""
    props: dict[str, Any] = {}
    if "title" in types:
        props["title"] = {"type": "string", "minLength": 3, "maxLength": 100}
    if "topic" in types:
        props["topics"] = {"type": "array", "minItems": 1, "maxItems": 3,
                           "items": {"type": "string", "minLength": 2, "maxLength": 60}}
    if "hashtag" in types:
        props["hashtags"] = {"type": "array", "minItems": 3, "maxItems": 8,
                             "items": {"type": "string", "minLength": 2, "maxLength": 40}}
    schema = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    asks = {"title": "a title that captures the video's main theme",
            "topic": "the central topics (1 to 3 short phrases)",
            "hashtag": "hashtags for social media (3 to 8, each a single word or CamelCase phrase)"}
    return "Give " + "; ".join(asks[t] for t in types) + ".", schema


def gist_fields(types: tuple[str, ...], value: dict[str, Any]) -> dict[str, Any]:
    """The ``/gist`` fields of the model's JSON answer: trimmed, hashtags as ``#Word`` without repeats."""
    out: dict[str, Any] = {}
    if "title" in types:
        out["title"] = str(value.get("title", "")).strip()
    if "topic" in types:
        out["topics"] = [str(t).strip() for t in value.get("topics", []) if str(t).strip()]
    if "hashtag" in types:
        tags: list[str] = []
        for t in value.get("hashtags", []):
            word = re.sub(r"[^\w]", "", str(t).replace(" ", ""))
            if word and f"#{word}" not in tags:
                tags.append(f"#{word}")
        out["hashtags"] = tags
    return out


def gist(platform: Platform, tenant_id: str, request: GistInput) -> Gist:
    from framedex.services.analysis import prepared as analysis_prepared  # default outputs prepared at index time

    if (prepared := analysis_prepared.serve_gist(platform, tenant_id, request)) is not None:
        return prepared
    prompt, schema = gist_request(request.types)
    analysis = prepare(platform, tenant_id, AnalyzeInput(prompt=prompt, model_name=request.model_name,
                                                         max_tokens=256, temperature=0.2, json_schema=schema,
                                                         video_id=request.video_id, video=request.video))
    result = analysis.run()
    return Gist.of_fields(result.generation_id, Usage(result.output_tokens, result.input_tokens),
                          gist_fields(request.types, json.loads(result.data)))
