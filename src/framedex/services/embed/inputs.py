"""The typed requests of the v2 embeddings services (`POST /embed-v2`, `POST /embed-v2/tasks`), each built
from its wire body by the router with ``from_body``, which checks the fields in the order the API reports
them, with its codes and messages.

What can only be checked against stored state (an asset's existence, a URL's host) is checked by the
service. Where the API reports such an error before a check of the body, the body's check keeps its error in
the input (a `Deferred` value) for the service to raise in its turn, as `entities.NewEntity` does: a
``text_image`` text, a task's plan or document options, each ``multi_input`` media source after the first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeAlias, TypeVar

from framedex.domain_errors import InvalidParameter, MissingParameter, ServiceError
from framedex.services import documents
from framedex.services.embed.extract import WIRE_DIM, MediaPlan, parse_segmentation
from framedex.services.media import MediaSource

V2_MODELS = ("marengo3.0", "marengo3.5")
MAX_TEXT_TOKENS = {"marengo3.0": 500, "marengo3.5": 2000}
MAX_MEDIA_SOURCES = 10
VIDEO_OPTIONS = ("visual", "audio", "transcription")
AUDIO_OPTIONS = ("audio", "transcription")
SYNC_INPUT_TYPES = {"marengo3.0": ("text", "image", "text_image", "audio", "video", "multi_input"),
                    "marengo3.5": ("multi_input",)}
TASK_INPUT_TYPES = {"marengo3.0": ("audio", "video"), "marengo3.5": ("audio", "video", "image", "document")}
PLACEHOLDER = re.compile(r"<@([^<>\s]+)>")
_TOKEN = re.compile(r"\w+|[^\w\s]")

T = TypeVar("T")
# A checked value, or the parameter error its check raised, which the service raises when it reaches it.
Deferred: TypeAlias = T | ServiceError


def defer(check: Callable[[], T]) -> Deferred[T]:
    try:
        return check()
    except ServiceError as exc:
        return exc


def settle(value: Deferred[T]) -> T:
    """The value of a deferred check; raises its error."""
    if isinstance(value, ServiceError):
        raise value
    return value


# --- fields ---------------------------------------------------------------------------------------------


def _str_list(raw: Any, name: str, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    if raw is None:
        return list(default)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise InvalidParameter(name, f"It must be a non-empty array of {list(allowed)}.")
    bad = [x for x in raw if x not in allowed]
    if bad:
        raise InvalidParameter(name, f"Unsupported values {bad}; use {list(allowed)}.")
    return list(dict.fromkeys(raw))


def _seconds(raw: Any, name: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise InvalidParameter(name, "It must be a number of seconds, at least 0.")
    return float(raw)


def media_plan(model: str, kind: str, spec: Mapping[str, Any]) -> MediaPlan:
    """The MediaPlan of a v2 `audio` / `video` input object."""
    audio = kind == "audio"
    option_values: tuple[str, ...] = AUDIO_OPTIONS if audio else VIDEO_OPTIONS
    if model == "marengo3.5":
        default_options = ["audio"] if audio else ["visual", "audio"]
        option_values = tuple(o for o in option_values if o != "transcription")
    else:
        default_options = list(option_values)
    options = _str_list(spec.get("embedding_option"), f"{kind}.embedding_option", option_values, default_options)
    scopes = _str_list(spec.get("embedding_scope"), f"{kind}.embedding_scope", ("clip", "local", "asset"),
                       ["clip", "asset"])
    scopes = list(dict.fromkeys("clip" if s == "local" else s for s in scopes))
    types = _str_list(spec.get("embedding_type"), f"{kind}.embedding_type",
                      ("separate_embedding", "fused_embedding"), ["separate_embedding"])
    strategy, seconds = parse_segmentation(spec.get("segmentation"), kind, audio=audio)
    start = _seconds(spec.get("start_sec"), f"{kind}.start_sec")
    end = _seconds(spec.get("end_sec"), f"{kind}.end_sec")
    if start is not None and end is not None and end <= start:
        raise InvalidParameter(f"{kind}.end_sec", "end_sec must be greater than start_sec.")
    return MediaPlan(options, scopes, types, start, end, strategy, seconds)


def count_tokens(text: str) -> int:
    """About the number of tokens of a text: its words and punctuation marks."""
    return len(_TOKEN.findall(text))


@dataclass(frozen=True)
class TextInput:
    """A text to embed, checked: its token count, and whether it is over the model's limit (kept whole: an
    over-long text is refused unless ``auto_truncate``)."""

    text: str
    tokens: int
    truncated: bool = False

    @classmethod
    def check(cls, model: str, text: Any, name: str, auto_truncate: bool) -> TextInput:
        if not isinstance(text, str) or not text.strip():
            raise MissingParameter(name)
        tokens = count_tokens(text)
        limit = MAX_TEXT_TOKENS.get(model, 500)
        if tokens > limit and not auto_truncate:
            raise InvalidParameter(name, f"The text has about {tokens} tokens; the limit is {limit}.",
                                   code="text_too_long")
        return cls(text, tokens, tokens > limit)


def _model(raw: Any) -> str:
    if not raw:
        raise MissingParameter("model_name")
    if raw not in V2_MODELS:
        raise InvalidParameter("model_name", f"Use one of {list(V2_MODELS)}.", code="model_not_supported")
    return str(raw)


def _input_type(raw: Any, model: str, allowed: tuple[str, ...], tasks: str = "") -> str:
    if not raw:
        raise MissingParameter("input_type")
    if raw not in allowed:
        raise InvalidParameter("input_type", f"{model} accepts input_type {list(allowed)}{tasks}.")
    return str(raw)


def _no_uncertainty(body: Mapping[str, Any]) -> None:
    if body.get("embedding_uncertainty"):
        raise InvalidParameter("embedding_uncertainty", "Uncertainty vectors are not available on this server.",
                               code="parameter_not_supported")


def _dimension(model: str, raw: Any) -> int:
    if raw is None:
        return WIRE_DIM
    if model != "marengo3.5":
        raise InvalidParameter("embedding_dimension", "embedding_dimension requires marengo3.5.")
    if isinstance(raw, bool) or raw not in (256, 512):
        raise InvalidParameter("embedding_dimension", "Use 256 or 512.")
    return int(raw)


def _spec(body: Mapping[str, Any], input_type: str) -> Mapping[str, Any]:
    """The request's object for its input type (``text``, ``image``, ...)."""
    spec = body.get(input_type)
    if not isinstance(spec, dict):
        raise MissingParameter(input_type)
    return spec


# --- POST /embed-v2 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImageInput:
    """An ``image`` or ``text_image`` input: its media source and, for ``text_image``, its text (checked
    after the source's stored state, so deferred)."""

    source: MediaSource
    text: Deferred[TextInput] | None = None


@dataclass(frozen=True)
class MediaInput:
    """An ``audio`` or ``video`` input: what to compute, and its media source."""

    kind: str
    plan: MediaPlan
    source: MediaSource


@dataclass(frozen=True)
class MultiSource:
    """One of a ``multi_input``'s media sources (``name`` in errors): an image or a document."""

    name: str
    image: MediaSource | None = None
    document: documents.MultiInputDocument | None = None

    @classmethod
    def from_body(cls, model: str, body: Any, name: str, sources: list[Any], text: Any) -> MultiSource:
        if not isinstance(body, dict):
            raise InvalidParameter(name, "It must be an object.")
        media_type = body.get("media_type")
        if media_type == "document":  # PDF, text, Markdown: services/documents.py
            return cls(name, document=documents.MultiInputDocument.from_body(model, body, name, sources, text))
        if media_type != "image":
            raise InvalidParameter(name, "Only image media sources are supported here.",
                                   code="parameter_not_supported")
        fields = {k: body.get(k) for k in ("base64_string", "url", "asset_id")}
        return cls(name, image=MediaSource.from_body(fields, f"{name}.media_source"))


@dataclass(frozen=True)
class MultiInput:
    """Text with `<@name>` placeholders plus up to 10 media sources, fused into one vector. ``plain`` is the
    text without its placeholders ("" when none), ``tokens`` the whole text's count (None: no text). Each
    source's checks come after the sources before it are opened, so they are deferred."""

    plain: str
    tokens: int | None
    sources: list[Deferred[MultiSource]]

    @classmethod
    def from_body(cls, model: str, spec: Mapping[str, Any]) -> MultiInput:
        sources = spec.get("media_sources") or []
        text = spec.get("input_text")
        if not isinstance(sources, list) or len(sources) > MAX_MEDIA_SOURCES:
            raise InvalidParameter("multi_input.media_sources", f"Give at most {MAX_MEDIA_SOURCES} media sources.")
        if not sources and not (isinstance(text, str) and text.strip()):
            raise MissingParameter("multi_input.input_text")
        plain, tokens = "", None
        if isinstance(text, str) and text.strip():
            names = {str(s.get("name")) for s in sources if isinstance(s, dict) and s.get("name")}
            unknown = [n for n in PLACEHOLDER.findall(text) if n not in names]
            if unknown:
                raise InvalidParameter("multi_input.input_text", f"No media source is named {unknown[0]!r}.")
            plain = re.sub(r"\s+", " ", PLACEHOLDER.sub(" ", text)).strip()
            tokens = count_tokens(text)
        checked = [defer(partial(MultiSource.from_body, model, source, f"multi_input.media_sources[{i}]", sources,
                                 text)) for i, source in enumerate(sources)]
        return cls(plain, tokens, checked)


EmbedSpec = TextInput | ImageInput | MediaInput | MultiInput


def _sync_spec(model: str, input_type: str, spec: Mapping[str, Any], auto_truncate: bool) -> EmbedSpec:
    if input_type == "text":
        return TextInput.check(model, spec.get("input_text"), "text.input_text", auto_truncate)
    if input_type in ("image", "text_image"):
        source = MediaSource.of_field(spec.get("media_source"), input_type)
        text = None if input_type == "image" else defer(
            lambda: TextInput.check(model, spec.get("input_text"), "text_image.input_text", auto_truncate))
        return ImageInput(source, text)
    if input_type in ("audio", "video"):
        plan = media_plan(model, input_type, spec)
        return MediaInput(input_type, plan, MediaSource.of_field(spec.get("media_source"), input_type))
    return MultiInput.from_body(model, spec)


@dataclass(frozen=True)
class EmbedInput:
    """A synchronous embedding request (`POST /embed-v2`): the model, the input type and its checked input,
    and the vectors' dimension."""

    model: str
    input_type: str
    dimension: int
    spec: EmbedSpec

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> EmbedInput:
        model = _model(body.get("model_name"))
        input_type = _input_type(body.get("input_type"), model, SYNC_INPUT_TYPES[model])
        for flag in ("auto_truncate", "embedding_uncertainty"):
            if body.get(flag) is not None and model != "marengo3.5":
                raise InvalidParameter(flag, f"{flag} requires marengo3.5.")
        _no_uncertainty(body)
        dimension = _dimension(model, body.get("embedding_dimension"))
        spec = _spec(body, input_type)
        return cls(model, input_type, dimension, _sync_spec(model, input_type, spec, bool(body.get("auto_truncate"))))


# --- POST /embed-v2/tasks -------------------------------------------------------------------------------


def _task_options(model: str, input_type: str,
                  spec: Mapping[str, Any]) -> MediaPlan | documents.DocumentTaskOptions | None:
    if input_type == "document":
        return documents.DocumentTaskOptions.from_body(spec)
    if input_type in ("audio", "video"):
        return media_plan(model, input_type, spec)
    return None


@dataclass(frozen=True)
class EmbedTaskInput:
    """An async embedding task (`POST /embed-v2/tasks`): the model, the input type, its media source and what
    to compute (a plan for audio and video, document options, nothing for an image), checked after the
    source's stored state, so deferred."""

    model: str
    input_type: str
    dimension: int
    source: MediaSource
    options: Deferred[MediaPlan | documents.DocumentTaskOptions | None]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> EmbedTaskInput:
        model = _model(body.get("model_name"))
        input_type = _input_type(body.get("input_type"), model, TASK_INPUT_TYPES[model], " for async tasks")
        _no_uncertainty(body)
        dimension = _dimension(model, body.get("embedding_dimension"))
        spec = _spec(body, input_type)
        source = MediaSource.of_field(spec.get("media_source"), input_type)
        return cls(model, input_type, dimension, source, defer(lambda: _task_options(model, input_type, spec)))
