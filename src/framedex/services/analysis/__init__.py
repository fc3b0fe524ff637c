"""Analysis: open-ended generation over a video (``/analyze``, ``/generate``), summaries, chapters,
highlights (``/summarize``) and gists (``/gist``), all from the video's timeline (see ``timeline.py``).

Flow of one request: validate the parameters (the real API's error codes, never a 500) → resolve the
video (``video_id``, or ``video`` = ``asset_id`` | ``url`` | ``base64_string``) → load its timeline and
cut it to ``start_time``/``end_time`` → fit it into the prompt budget (map-reduce into notes over
windows when even the most compact rendering is too long; notes are cached per video) → generate.

``response_format`` JSON schemas are checked when the request arrives, enforced while decoding
(llama.cpp compiles the schema to a grammar) and validated again with ``jsonschema`` afterwards; an
invalid reply is repaired by asking the model again with the validation error, and as a last resort
replaced by the smallest instance of the schema, so the returned ``data`` always validates.

Videos given as ``url`` or ``base64_string`` become an asset that is indexed into a per-tenant index
named ``framedex-analysis``; the request waits up to ``settings.analyze_media_wait_seconds`` for it to
be ready and otherwise fails with ``video_not_ready`` (async tasks wait without that bound).

Size (~950 lines, over the ~500 of the house rule): the request checks, video resolution, prompt
building, map-reduce and the four endpoints share one `GenerationOptions` flow and its error contract;
splitting is planned along those lines (prompts, map-reduce) once the services speak typed inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import queue
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import select

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import is_id
from framedex.models.base import ChatMessage
from framedex.models.llm import (
    API_MODEL_NAMES,
    Generation,
    LLMError,
    OnText,
    estimate_tokens,
    resolve_model,
    tenant_scope,
)
from framedex.services import assets as asset_service
from framedex.services.analysis import timeline as timeline_service
from framedex.services.analysis.timeline import Timeline, load_timeline, spans_from_boundaries
from framedex.services.media import decode_base64
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, IndexRow

log = logging.getLogger(__name__)

DEFAULT_MODEL = "pegasus1.5"
MAX_PROMPT_TOKENS = 2000  # the documented prompt limit of the older API; 1.3 counts it toward the context
MAX_OUTPUT_TOKENS = 98_304
DEFAULT_MAX_TOKENS = 2048
DEFAULT_TEMPERATURE = 0.2
MAX_BASE64_BYTES = 30 * 1024 * 1024
ANALYSIS_INDEX_NAME = "framedex-analysis"
ANALYSIS_INDEX_MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
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


class VideoNotReady(ServiceError):
    code = "video_not_ready"


class AnalysisFailed(ServiceError):
    status = 500
    code = "internal_error"


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


# What a client is told when the language model fails: the backend's own words name model files, endpoint
# hosts and binding internals, so they go to the log (`_generation_failed`).
GENERATION_FAILED = "Generation failed: the language model could not produce an answer."


def _generation_failed(exc: BaseException) -> AnalysisFailed:
    log.warning("generation failed: %s", exc)
    return AnalysisFailed(GENERATION_FAILED)


# --- parameters --------------------------------------------------------------------------------------


@dataclass
class GenerationOptions:
    prompt: str
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
    json_schema: dict[str, Any] | None = None
    model_name: str = DEFAULT_MODEL
    start_time: float | None = None
    end_time: float | None = None


def check_model_name(platform: Platform, model_name: Any) -> str:
    if model_name is None or model_name == "":
        return DEFAULT_MODEL
    if not isinstance(model_name, str) or (
        model_name not in API_MODEL_NAMES and model_name not in platform.settings.llm_models
    ):
        raise InvalidParameter("model_name", f"Use one of {list(API_MODEL_NAMES)}.")
    return model_name


def check_prompt(prompt: Any, prompt_v2: Any = None, *, required: bool = True) -> str | None:
    if prompt is not None and prompt_v2 is not None:
        raise InvalidParameter("prompt", "The prompt and prompt_v2 parameters are mutually exclusive.")
    if prompt_v2 is not None:
        if not isinstance(prompt_v2, dict) or not isinstance(prompt_v2.get("input_text"), str):
            raise InvalidParameter("prompt_v2", "It must be an object with an input_text string.")
        if prompt_v2.get("media_sources"):
            raise InvalidParameter("prompt_v2", "Reference images (media_sources) are not supported by this server.")
        prompt = prompt_v2["input_text"]
    if prompt is None or (isinstance(prompt, str) and not prompt.strip()):
        if required:
            raise MissingParameter("prompt")
        return None
    if not isinstance(prompt, str):
        raise InvalidParameter("prompt", "It must be a string.")
    if estimate_tokens(prompt) > MAX_PROMPT_TOKENS:
        raise InvalidParameter("prompt", f"It is too long: the limit is {MAX_PROMPT_TOKENS} tokens.")
    return prompt


def check_temperature(value: Any) -> float:
    if value is None:
        return DEFAULT_TEMPERATURE
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= float(value) <= 2:
        raise InvalidParameter("temperature", "It must be a number between 0 and 2 (default 0.2).")
    return float(value)


def check_max_tokens(value: Any, *, default: int = DEFAULT_MAX_TOKENS, minimum: int = 1) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_OUTPUT_TOKENS:
        raise InvalidParameter("max_tokens", f"It must be an integer between {minimum} and {MAX_OUTPUT_TOKENS}.")
    return value


def check_response_format(value: Any, *, allow_segments: bool = False) -> dict[str, Any] | None:
    """The JSON schema of a ``response_format`` (``{type: json_schema, json_schema: {...}}``), checked."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParameter("response_format", "It must be an object.")
    kind = value.get("type", "json_schema")
    if kind == "segment_definitions" and allow_segments:
        raise InvalidParameter("response_format", "segment_definitions (video segmentation) is not supported "
                               "by this server; use json_schema.")
    if kind != "json_schema":
        raise InvalidParameter("response_format", "Only the json_schema type is supported.")
    schema = value.get("json_schema")
    if not isinstance(schema, dict) or not schema:
        raise InvalidParameter("response_format", "json_schema must be a non-empty JSON schema object.")
    # Some clients wrap the schema OpenAI-style: {"name": ..., "schema": {...}}.
    if isinstance(schema.get("schema"), dict) and "type" not in schema:
        schema = schema["schema"]
    import jsonschema

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidParameter("response_format", f"The JSON schema is invalid: {exc.message}") from exc
    return schema


def check_window(start: Any, end: Any, duration: float) -> tuple[float, float]:
    for name, v in (("start_time", start), ("end_time", end)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
            raise InvalidParameter(name, "It must be a non-negative number of seconds.")
    s = float(start) if start is not None else 0.0
    e = float(end) if end is not None else duration
    if duration and s >= duration:
        raise InvalidParameter("start_time", f"It must be less than the video duration ({duration:.2f} s).")
    if duration and e > duration + 0.5:
        raise InvalidParameter("end_time", f"It must not exceed the video duration ({duration:.2f} s).")
    e = min(e, duration) if duration else e
    if e - s < 1.0:
        raise InvalidParameter("end_time", "The window (end_time - start_time) must be at least 1 second.")
    return s, e


# --- videos ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoRef:
    """A resolved video and how the request named it (for task responses)."""

    video_id: str
    index_id: str
    asset_id: str
    duration: float
    source: dict[str, Any]


def _ref(row: IndexedAssetRow, source: dict[str, Any]) -> VideoRef:
    return VideoRef(row.id, row.index_id, row.asset_id, float(row.duration or 0.0), source)


def _not_ready(row: IndexedAssetRow) -> ServiceError:
    if row.status == "failed":
        message = (row.error or {}).get("message", "indexing failed")
        return VideoNotReady(f"The video {row.id} failed indexing and cannot be analyzed: {message}")
    return VideoNotReady(f"The video {row.id} is not ready yet (status: {row.status}). Try again when it is ready.")


def get_ready_video(platform: Platform, tenant_id: str, video_id: Any) -> VideoRef:
    if not isinstance(video_id, str) or not video_id:
        raise MissingParameter("video_id")
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id) if is_id(video_id) else None
        if row is None or row.tenant_id != tenant_id:
            raise NotFound("video", video_id)
        if row.status != "ready":
            raise _not_ready(row)
        return _ref(row, {"type": "video_id", "video_id": row.id, "index_id": row.index_id})


def _analysis_index(platform: Platform, tenant_id: str) -> str:
    from framedex.services import indexes

    with platform.store.session() as s:
        row = s.scalars(select(IndexRow).where(IndexRow.tenant_id == tenant_id,
                                               IndexRow.name == ANALYSIS_INDEX_NAME)).first()
        if row is not None:
            return row.id
    try:
        return indexes.create(platform, tenant_id, name=ANALYSIS_INDEX_NAME, models=ANALYSIS_INDEX_MODELS,
                              hidden=True).id
    except ServiceError:  # created concurrently
        with platform.store.session() as s:
            row = s.scalars(select(IndexRow).where(IndexRow.tenant_id == tenant_id,
                                                   IndexRow.name == ANALYSIS_INDEX_NAME)).first()
            if row is None:
                raise
            return row.id


def _index_for_analysis(platform: Platform, tenant_id: str, asset_id: str) -> str:
    from framedex.services import videos

    index_id = _analysis_index(platform, tenant_id)
    return videos.index_asset(platform, tenant_id, index_id, asset_id).id


def _asset_video(platform: Platform, tenant_id: str, asset_id: str) -> tuple[IndexedAssetRow | None, bool]:
    """The best indexed video of an asset: (ready one, or newest pending one; whether any is pending)."""
    with platform.store.session() as s:
        asset_service.get_asset(s, tenant_id, asset_id)
        rows = list(s.scalars(select(IndexedAssetRow).where(IndexedAssetRow.asset_id == asset_id,
                                                            IndexedAssetRow.tenant_id == tenant_id)
                              .order_by(IndexedAssetRow.created_at.desc())))
    ready = [r for r in rows if r.status == "ready"]
    if ready:
        return ready[0], False
    pending = [r for r in rows if r.status != "failed"]
    if pending:
        return pending[0], True
    return (rows[0] if rows else None), False


def submit_video(platform: Platform, tenant_id: str, video: Any) -> tuple[str, dict[str, Any]]:
    """Make sure the ``video`` input is (being) indexed; return (video id, source description).
    Quick: downloads and indexing happen on the workers."""
    if not isinstance(video, dict):
        raise InvalidParameter("video", "It must be an object with a type of asset_id, url or base64_string.")
    kind = video.get("type")
    if kind is None:
        kind = next((k for k in ("asset_id", "url", "base64_string") if video.get(k)), None)
    if kind == "asset_id":
        asset_id = video.get("asset_id")
        if not isinstance(asset_id, str) or not asset_id:
            raise MissingParameter("video.asset_id")
        row, _pending = _asset_video(platform, tenant_id, asset_id)
        if row is None or row.status == "failed":
            with platform.store.session() as s:
                asset = asset_service.get_asset(s, tenant_id, asset_id)
                if asset.status == "failed":
                    raise ServiceError(f"The asset {asset_id} failed processing and cannot be analyzed.",
                                       code="asset_unavailable")
                if asset.file_type != "video":
                    raise InvalidParameter("video.asset_id", "The asset is not a video.")
            return _index_for_analysis(platform, tenant_id, asset_id), {"type": "asset_id", "asset_id": asset_id}
        return row.id, {"type": "asset_id", "asset_id": asset_id}
    if kind == "url":
        url = video.get("url")
        if not isinstance(url, str) or not url:
            raise MissingParameter("video.url")
        asset = asset_service.create_from_url(platform, tenant_id, url=url)
        return _index_for_analysis(platform, tenant_id, asset.id), {"type": "url", "url": url}
    if kind == "base64_string":
        raw = video.get("base64_string")
        if not isinstance(raw, str) or not raw:
            raise MissingParameter("video.base64_string")
        data = decode_base64(raw, "video.base64_string", MAX_BASE64_BYTES, pad=True, too_large=InvalidParameter(
            "video.base64_string", f"The decoded video exceeds {MAX_BASE64_BYTES} bytes."),
            invalid="It is not valid base64.", empty="It decodes to nothing.")
        asset = asset_service.create_direct(platform, tenant_id, stream=io.BytesIO(data), filename="video.mp4",
                                            max_bytes=MAX_BASE64_BYTES)
        return _index_for_analysis(platform, tenant_id, asset.id), {"type": "base64_string"}
    raise InvalidParameter("video.type", "Use asset_id, url or base64_string.")


def wait_ready(platform: Platform, tenant_id: str, video_id: str, source: dict[str, Any],
               timeout: float | None) -> VideoRef:
    """Wait until the video is ready; ``VideoNotReady`` when it failed or ``timeout`` passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.2
    while True:
        with platform.store.session() as s:
            row = s.get(IndexedAssetRow, video_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("video", video_id)
            if row.status == "ready":
                return _ref(row, source)
            if row.status == "failed":
                raise _not_ready(row)
            status = row.status
        if deadline is not None and time.monotonic() >= deadline:
            raise VideoNotReady(f"The video is still being processed (status: {status}); it was not ready "
                                f"within {timeout:.0f} s. Retry later, or use /analyze/tasks.")
        time.sleep(delay)
        delay = min(delay * 1.5, 2.0)


def resolve_video(platform: Platform, tenant_id: str, *, video_id: Any = None, video: Any = None,
                  wait_seconds: float | None = None) -> VideoRef:
    """The ready video a request names. ``video_id`` must be ready now; ``video`` inputs are indexed
    if needed and waited for (``wait_seconds``; default ``settings.analyze_media_wait_seconds``)."""
    if video_id is not None and video is not None:
        raise InvalidParameter("video", "Give either video or video_id, not both.")
    if video_id is not None:
        return get_ready_video(platform, tenant_id, video_id)
    if video is None:
        raise MissingParameter("video")
    vid, source = submit_video(platform, tenant_id, video)
    timeout = platform.settings.analyze_media_wait_seconds if wait_seconds is None else wait_seconds
    return wait_ready(platform, tenant_id, vid, source, timeout)


# --- JSON schema outputs -----------------------------------------------------------------------------


def parse_json_reply(text: str) -> Any:
    """The JSON value in a reply (tolerates code fences and text around one object)."""
    s = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if fence:
        s = fence.group(1).strip()
    try:
        return json.loads(s)
    except ValueError:
        pass
    for open_c, close_c in (("{", "}"), ("[", "]")):
        i, j = s.find(open_c), s.rfind(close_c)
        if 0 <= i < j:
            with contextlib.suppress(ValueError):
                return json.loads(s[i : j + 1])
    raise ValueError("no JSON value in the reply")


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(value)][:5]


def minimal_instance(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """The smallest value valid against common JSON schemas (the last-resort repair)."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    if not isinstance(schema, dict) or depth > 20:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return minimal_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return minimal_instance(schema[key][0], root, depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            if isinstance(sub, dict):
                merged = {**merged, **sub, "properties": {**merged.get("properties", {}), **sub.get("properties", {})},
                          "required": [*merged.get("required", []), *sub.get("required", [])]}
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties", {}) or {}
        return {name: minimal_instance(props.get(name, {}), root, depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        count = int(schema.get("minItems", 0) or 0)
        items = schema.get("items", {})
        prefix = schema.get("prefixItems") or []
        out = [minimal_instance(p, root, depth + 1) for p in prefix[:count]]
        return out + [minimal_instance(items, root, depth + 1) for _ in range(count - len(out))]
    if kind == "string":
        return "x" * int(schema.get("minLength", 0) or 0)
    if kind in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        value: float = 0
        if isinstance(lo, int | float):
            value = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        hi = schema.get("maximum")
        if isinstance(hi, int | float) and value > hi:
            value = hi
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    return None


def generate_json(llm: Any, messages: list[ChatMessage], schema: dict[str, Any], *, max_tokens: int,
                  temperature: float, model: str | None = None) -> tuple[Any, Generation, bool]:
    """Generate a value valid against ``schema``; returns (value, last generation, whether it was repaired
    to the schema's minimal instance). Decoding is grammar-constrained; the result is still validated."""
    instruction = ("\n\nReply with JSON only, valid against this JSON schema:\n"
                   + json.dumps(schema, separators=(",", ":"))[:4000])
    last_msg = messages[-1] if messages else ChatMessage("user", "")
    msgs = [*messages[:-1], ChatMessage(last_msg.role, last_msg.content + instruction)]
    constrained = True
    last: Generation | None = None
    in_tokens = out_tokens = 0
    for attempt in range(3):
        try:
            gen = llm.complete(msgs, max_tokens=max_tokens if attempt == 0 else max(max_tokens, 512),
                               temperature=temperature if attempt == 0 else 0.0,
                               json_schema=schema if constrained else None, model=model)
        except LLMError as exc:
            if constrained and ("grammar" in str(exc).lower() or "schema" in str(exc).lower()):
                log.info("schema not usable as a grammar (%s); validating unconstrained output", exc)
                constrained = False
                continue
            raise
        last = gen
        in_tokens += gen.input_tokens
        out_tokens += gen.output_tokens
        try:
            value = parse_json_reply(gen.text)
            errors = schema_errors(value, schema)
        except ValueError as exc:
            value, errors = None, [str(exc)]
        if not errors:
            gen.input_tokens, gen.output_tokens = in_tokens, out_tokens
            return value, gen, False
        log.info("JSON reply invalid (attempt %d): %s", attempt + 1, errors)
        msgs = [*msgs, ChatMessage("assistant", gen.text[:4000]),
                ChatMessage("user", "That reply is not valid against the schema: " + "; ".join(errors)
                            + ". Reply again with corrected, complete JSON only, and keep it short.")]
    value = minimal_instance(schema)
    if schema_errors(value, schema):
        raise AnalysisFailed("Could not produce output valid against the response_format schema.")
    assert last is not None
    last.input_tokens, last.output_tokens = in_tokens, out_tokens
    return value, last, True


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

    def events(self) -> Iterator[str]:
        """NDJSON lines: ``stream_start``, ``text_generation``…, ``stream_end`` (as the SDK parses them)."""
        yield _line({"event_type": "stream_start", "metadata": {"generation_id": self.generation_id}})
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()

        def on_text(piece: str) -> bool:
            pieces.put(("text", piece))
            return stop.is_set()

        def work() -> None:
            try:
                pieces.put(("end", self.run(on_text)))
            except ServiceError as exc:
                pieces.put(("error", {"code": exc.code, "message": exc.message}))
            except Exception:
                log.exception("streamed analysis failed")
                pieces.put(("error", {"code": "internal_error",
                                      "message": "Generation failed because of an internal error."}))

        threading.Thread(target=work, name="framedex-analyze-stream", daemon=True).start()
        try:
            while True:
                kind, value = pieces.get()
                if kind == "text":
                    if value:
                        yield _line({"event_type": "text_generation", "text": value})
                elif kind == "end":
                    result: Result = value
                    end: dict[str, Any] = {
                        "event_type": "stream_end", "finish_reason": result.finish_reason,
                        "metadata": {"generation_id": self.generation_id, "usage": result.usage()},
                    }
                    if result.error():
                        end["error"] = result.error()
                    if result.time_to_first_token is not None:
                        end["time_to_first_token"] = round(result.time_to_first_token, 3)
                    yield _line(end)
                    return
                else:
                    yield _line({"event_type": "stream_end", "finish_reason": "stop",
                                 "metadata": {"generation_id": self.generation_id,
                                              "usage": {"output_tokens": 0, "input_tokens": 0}},
                                 "error": value})
                    return
        finally:
            stop.set()


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"


def prepare(platform: Platform, tenant_id: str, body: dict[str, Any], *, prompt_required: bool = True,
            wait_seconds: float | None = None) -> Analysis:
    """Validate an ``/analyze``-shaped body and resolve its video (raises the API's errors)."""
    if body.get("image"):
        raise InvalidParameter("image", "Image analysis is not supported by this server; send a video.")
    model_name = check_model_name(platform, body.get("model_name"))
    prompt = check_prompt(body.get("prompt"), body.get("prompt_v2"), required=prompt_required) or ""
    temperature = check_temperature(body.get("temperature"))
    max_tokens = check_max_tokens(body.get("max_tokens"))
    schema = check_response_format(body.get("response_format"))
    for name in ("start_time", "end_time"):
        v = body.get(name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
            raise InvalidParameter(name, "It must be a non-negative number of seconds.")
    video = resolve_video(platform, tenant_id, video_id=body.get("video_id"), video=body.get("video"),
                          wait_seconds=wait_seconds)
    check_window(body.get("start_time"), body.get("end_time"), video.duration)
    options = GenerationOptions(prompt=prompt, temperature=temperature, max_tokens=max_tokens, json_schema=schema,
                                model_name=model_name, start_time=body.get("start_time"),
                                end_time=body.get("end_time"))
    return Analysis(platform, video, options)


def analyze(platform: Platform, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """``POST /analyze`` with ``stream: false``: the ``NonStreamAnalyzeResponse`` body."""
    result = prepare(platform, tenant_id, body).run()
    return response_body(result)


def response_body(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {"id": result.generation_id, "data": result.data, "finish_reason": result.finish_reason,
                           "usage": result.usage()}
    if result.error():
        out["error"] = result.error()
    return out


# --- summaries, chapters, highlights, gists ------------------------------------------------------------

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


def summarize(platform: Platform, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    kind = body.get("type")
    if kind is None:
        raise MissingParameter("type")
    if kind not in ("summary", "chapter", "highlight"):
        raise InvalidParameter("type", "Use summary, chapter or highlight.")
    if body.get("response_format") is not None and kind != "summary":
        raise InvalidParameter("response_format", "It is only valid when type is summary.")
    extra = check_prompt(body.get("prompt"), None, required=False)
    from framedex.services.analysis import prepared as analysis_prepared  # default outputs prepared at index time

    if (prepared := analysis_prepared.serve_summarize(platform, tenant_id, body)) is not None:
        return prepared
    if kind == "summary":
        prompt = SUMMARY_PROMPT + (f"\nAdditional instructions: {extra}" if extra else "")
        analysis = prepare(platform, tenant_id, {**body, "prompt": prompt})
        result = analysis.run()
        return {"id": result.generation_id, "summarize_type": "summary", "summary": result.data,
                "usage": {"output_tokens": result.output_tokens, "input_tokens": result.input_tokens}}
    check_model_name(platform, body.get("model_name"))
    temperature = check_temperature(body.get("temperature"))
    max_tokens = check_max_tokens(body.get("max_tokens"), default=1024)
    video = resolve_video(platform, tenant_id, video_id=body.get("video_id"), video=body.get("video"))
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video.video_id)
        if row is None:
            raise NotFound("video", video.video_id)
        timeline = load_timeline(platform, row)
    duration = timeline.duration or video.duration
    gid = str(uuid.uuid4())
    try:
        if kind == "chapter":
            chapters, usage = make_chapters(platform, timeline, duration, extra=extra, temperature=temperature,
                                            max_tokens=max_tokens, model_name=body.get("model_name"))
            return {"id": gid, "summarize_type": "chapter", "chapters": chapters, "usage": usage}
        highlights, usage = make_highlights(platform, timeline, duration, extra=extra, temperature=temperature,
                                            max_tokens=max_tokens, model_name=body.get("model_name"))
        return {"id": gid, "summarize_type": "highlight", "highlights": highlights, "usage": usage}
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


def make_chapters(platform: Platform, timeline: Timeline, duration: float, *, extra: str | None = None,
                  temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = 1024,
                  model_name: str | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Chapters whose boundaries are where the content changes (see ``chapter_boundaries``); the model
    only writes each chapter's title and summary."""
    boundaries = chapter_boundaries(platform, timeline, duration)
    spans = spans_from_boundaries(0.0, duration, boundaries)
    llm = platform.models.llm()
    # titles need the gist of each chapter, not all of it: keep this prompt short (prompt eval is slow on CPU)
    budget = max(120, min(400, min(1600, platform.settings.llm_prompt_budget) // max(1, len(spans))))
    sections = "\n\n".join(f"Chapter {i + 1} ({a:.0f}s-{b:.0f}s):\n{_section_text(timeline, a, b, budget)}"
                           for i, (a, b) in enumerate(spans))
    n = len(spans)
    schema = {
        "type": "object",
        "properties": {"chapters": {"type": "array", "minItems": n, "maxItems": n, "items": {
            "type": "object",
            "properties": {"title": {"type": "string", "minLength": 1, "maxLength": 80},
                           "summary": {"type": "string", "minLength": 1, "maxLength": 400}},
            "required": ["title", "summary"], "additionalProperties": False}}},
        "required": ["chapters"], "additionalProperties": False,
    }
    request = (f"The video is divided into {n} chapter{'s' if n > 1 else ''}, shown below with what happens "
               "in each. For every chapter, in order, write a short descriptive title (a few words) and a "
               "one-sentence summary of that chapter's content.")
    if extra:
        request += f"\nAdditional instructions: {extra}"
    messages = [ChatMessage("system", SYSTEM_PROMPT),
                ChatMessage("user", f"{sections}\n\nRequest: {request}")]
    value, gen, _ = generate_json(llm, messages, schema, max_tokens=max(max_tokens, 60 * n + 40),
                                  temperature=temperature, model=resolve_model(platform.settings, model_name))
    items = value.get("chapters", []) if isinstance(value, dict) else []
    chapters = []
    for i, (a, b) in enumerate(spans):
        item = items[i] if i < len(items) and isinstance(items[i], dict) else {}
        chapters.append({
            "chapter_number": i + 1, "start": round(a), "end": round(b), "start_sec": round(a, 2),
            "end_sec": round(b, 2), "chapter_title": str(item.get("title") or f"Part {i + 1}").strip(),
            "chapter_summary": str(item.get("summary") or "").strip(),
        })
    return chapters, {"output_tokens": gen.output_tokens, "input_tokens": gen.input_tokens}


def make_highlights(platform: Platform, timeline: Timeline, duration: float, *, extra: str | None = None,
                    temperature: float = DEFAULT_TEMPERATURE, max_tokens: int = 1024,
                    model_name: str | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
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
        highlights.append({"start": s, "end": round(end), "start_sec": float(s), "end_sec": round(end, 2),
                           "highlight": str(h.get("title", "")).strip(),
                           "highlight_summary": str(h.get("summary", "")).strip()})
    return highlights, {"output_tokens": gen.output_tokens, "input_tokens": gen.input_tokens}


def _grid(duration: float, step: float) -> list[float]:
    return [i * step for i in range(int(duration // step) + 1) if i * step < duration]


def _moment_end(timeline: Timeline, start: float) -> float:
    """End of the transcript segment (or shot) that starts near ``start``; else start + 10 s."""
    for e in timeline.speech:
        if abs(e.start - start) <= 1.0:
            return e.end
    later = [c for c in timeline.cuts if c > start + 1.0]
    return later[0] if later else start + 10.0


def gist(platform: Platform, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    types = body.get("types")
    if types is None:
        raise MissingParameter("types")
    if isinstance(types, str):
        types = [types]
    if not isinstance(types, list) or not types or any(t not in ("title", "topic", "hashtag") for t in types):
        raise InvalidParameter("types", "Use one or more of title, topic, hashtag.")
    wanted = list(dict.fromkeys(types))
    from framedex.services.analysis import prepared as analysis_prepared  # default outputs prepared at index time

    if (prepared := analysis_prepared.serve_gist(platform, tenant_id, body, wanted)) is not None:
        return prepared
    props: dict[str, Any] = {}
    if "title" in wanted:
        props["title"] = {"type": "string", "minLength": 3, "maxLength": 100}
    if "topic" in wanted:
        props["topics"] = {"type": "array", "minItems": 1, "maxItems": 3,
                           "items": {"type": "string", "minLength": 2, "maxLength": 60}}
    if "hashtag" in wanted:
        props["hashtags"] = {"type": "array", "minItems": 3, "maxItems": 8,
                             "items": {"type": "string", "minLength": 2, "maxLength": 40}}
    schema = {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}
    asks = {"title": "a title that captures the video's main theme",
            "topic": "the central topics (1 to 3 short phrases)",
            "hashtag": "hashtags for social media (3 to 8, each a single word or CamelCase phrase)"}
    prompt = "Give " + "; ".join(asks[t] for t in wanted) + "."
    analysis = prepare(platform, tenant_id, {"video_id": body.get("video_id"), "video": body.get("video"),
                                             "prompt": prompt, "max_tokens": 256, "temperature": 0.2,
                                             "model_name": body.get("model_name")})
    analysis.options.json_schema = schema
    result = analysis.run()
    value = json.loads(result.data)
    out: dict[str, Any] = {"id": result.generation_id,
                           "usage": {"output_tokens": result.output_tokens, "input_tokens": result.input_tokens}}
    if "title" in wanted:
        out["title"] = str(value.get("title", "")).strip()
    if "topic" in wanted:
        out["topics"] = [str(t).strip() for t in value.get("topics", []) if str(t).strip()]
    if "hashtag" in wanted:
        tags = []
        for t in value.get("hashtags", []):
            word = re.sub(r"[^\w]", "", str(t).replace(" ", ""))
            if word and f"#{word}" not in tags:
                tags.append(f"#{word}")
        out["hashtags"] = tags
    return out


def generate(platform: Platform, tenant_id: str, body: dict[str, Any]) -> Analysis:
    """``POST /generate`` (older API): like ``/analyze`` with a ``video_id``; the caller streams by default."""
    return prepare(platform, tenant_id, {**body, "response_format": None})

