"""The parameters of an analysis request, checked as the real API checks them (its error codes and
messages, never a 500), the typed request the services take (``AnalyzeInput``, built from the wire body by
the router), and the error a failed generation becomes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from framedex.domain_errors import InvalidParameter, MissingParameter, ServiceError
from framedex.models.llm import (
    API_MODEL_NAMES,
    estimate_tokens,
)
from framedex.services.platform import Platform

log = logging.getLogger(__name__)

DEFAULT_MODEL = "pegasus1.5"
MAX_PROMPT_TOKENS = 2000  # the documented prompt limit of the older API; 1.3 counts it toward the context
MAX_OUTPUT_TOKENS = 98_304
DEFAULT_MAX_TOKENS = 2048
DEFAULT_TEMPERATURE = 0.2


class AnalysisFailed(ServiceError):
    status = 500
    code = "internal_error"


# What a client is told when the language model fails: the backend's own words name model files, endpoint
# hosts and binding internals, so they go to the log (`_generation_failed`).
GENERATION_FAILED = "Generation failed: the language model could not produce an answer."


def _generation_failed(exc: BaseException) -> AnalysisFailed:
    log.warning("generation failed: %s", exc)
    return AnalysisFailed(GENERATION_FAILED)


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


def check_seconds(body: Mapping[str, Any], name: str) -> float | None:
    """A request's ``start_time``/``end_time``: absent, or a non-negative number of seconds."""
    v = body.get(name)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0):
        raise InvalidParameter(name, "It must be a non-negative number of seconds.")
    return None if v is None else v


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


@dataclass(frozen=True)
class AnalyzeInput:
    """An ``/analyze`` or ``/generate`` request with its parameters checked: what ``generation.prepare`` takes.
    The video is only named here (``video_id``, or ``video`` = ``{type: asset_id | url | base64_string, ...}``);
    it is checked when it is resolved, after every parameter, as the real API orders its errors."""

    prompt: str
    model_name: str = DEFAULT_MODEL
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int = DEFAULT_MAX_TOKENS
    json_schema: dict[str, Any] | None = None
    start_time: float | None = None
    end_time: float | None = None
    video_id: Any = None
    video: Any = None

    @classmethod
    def from_body(cls, platform: Platform, body: Mapping[str, Any], *, prompt_required: bool = True) -> AnalyzeInput:
        """The checked request of an ``/analyze``-shaped wire body (raises the API's errors)."""
        if body.get("image"):
            raise InvalidParameter("image", "Image analysis is not supported by this server; send a video.")
        model_name = check_model_name(platform, body.get("model_name"))
        prompt = check_prompt(body.get("prompt"), body.get("prompt_v2"), required=prompt_required) or ""
        temperature = check_temperature(body.get("temperature"))
        max_tokens = check_max_tokens(body.get("max_tokens"))
        schema = check_response_format(body.get("response_format"))
        start, end = check_seconds(body, "start_time"), check_seconds(body, "end_time")
        return cls(prompt=prompt, model_name=model_name, temperature=temperature, max_tokens=max_tokens,
                   json_schema=schema, start_time=start, end_time=end, video_id=body.get("video_id"),
                   video=body.get("video"))

    @classmethod
    def from_generate_body(cls, platform: Platform, body: Mapping[str, Any]) -> AnalyzeInput:
        """``/generate`` (older API): an ``/analyze`` body whose ``response_format`` is ignored, never checked."""
        return cls.from_body(platform, {**body, "response_format": None})


SUMMARIZE_TYPES = ("summary", "chapter", "highlight")
GIST_TYPES = ("title", "topic", "hashtag")


@dataclass(frozen=True)
class SummarizeInput:
    """A ``/summarize`` request with its parameters checked. ``instructions`` is the optional ``prompt``: it is
    added to the default request of ``kind``; ``max_tokens`` None means that kind's default."""

    kind: str
    instructions: str | None = None
    model_name: str = DEFAULT_MODEL
    temperature: float = DEFAULT_TEMPERATURE
    max_tokens: int | None = None
    json_schema: dict[str, Any] | None = None
    start_time: float | None = None
    end_time: float | None = None
    video_id: Any = None
    video: Any = None

    @classmethod
    def from_body(cls, platform: Platform, body: Mapping[str, Any]) -> SummarizeInput:
        kind = body.get("type")
        if kind is None:
            raise MissingParameter("type")
        if kind not in SUMMARIZE_TYPES:
            raise InvalidParameter("type", "Use summary, chapter or highlight.")
        if body.get("response_format") is not None and kind != "summary":
            raise InvalidParameter("response_format", "It is only valid when type is summary.")
        if body.get("image"):
            raise InvalidParameter("image", "Image analysis is not supported by this server; send a video.")
        instructions = check_prompt(body.get("prompt"), None, required=False)
        model_name = check_model_name(platform, body.get("model_name"))
        temperature = check_temperature(body.get("temperature"))
        max_tokens = body.get("max_tokens")
        if max_tokens is not None:
            max_tokens = check_max_tokens(max_tokens)
        schema = check_response_format(body.get("response_format"))
        start, end = check_seconds(body, "start_time"), check_seconds(body, "end_time")
        return cls(kind=kind, instructions=instructions, model_name=model_name, temperature=temperature,
                   max_tokens=max_tokens, json_schema=schema, start_time=start, end_time=end,
                   video_id=body.get("video_id"), video=body.get("video"))

    @property
    def is_default(self) -> bool:
        """The request as the platform prepares it at index time: no instructions, schema or window."""
        return not self.instructions and self.json_schema is None and self.start_time is None \
            and self.end_time is None

    def as_analysis(self, prompt: str) -> AnalyzeInput:
        """The ``/analyze`` request that answers this one with ``prompt`` (the instructions appended)."""
        if self.instructions:
            prompt += f"\nAdditional instructions: {self.instructions}"
        return AnalyzeInput(prompt=prompt, model_name=self.model_name, temperature=self.temperature,
                            max_tokens=self.max_tokens or DEFAULT_MAX_TOKENS, json_schema=self.json_schema,
                            start_time=self.start_time, end_time=self.end_time, video_id=self.video_id,
                            video=self.video)


@dataclass(frozen=True)
class GistInput:
    """A ``/gist`` request with its parameters checked: the wanted ``types`` in order, without repeats."""

    types: tuple[str, ...]
    model_name: str = DEFAULT_MODEL
    video_id: Any = None
    video: Any = None

    @classmethod
    def from_body(cls, platform: Platform, body: Mapping[str, Any]) -> GistInput:
        types = body.get("types")
        if types is None:
            raise MissingParameter("types")
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not types or any(t not in GIST_TYPES for t in types):
            raise InvalidParameter("types", "Use one or more of title, topic, hashtag.")
        return cls(types=tuple(dict.fromkeys(types)), model_name=check_model_name(platform, body.get("model_name")),
                   video_id=body.get("video_id"), video=body.get("video"))
