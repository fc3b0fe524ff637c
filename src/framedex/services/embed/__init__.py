"""Embeddings API: `POST /embed-v2`, `/embed-v2/tasks`, and the v1 `POST /embed` and `/embed/tasks`.

Every vector comes from the same joint space the index uses (DESIGN §5): text through the vision
encoder's text tower (MiniLM by default), images and video frames through the frame analyzer (ConSE
into the MiniLM space by default), sounds through the audio tagger's joint embedding, speech as the
text embedding of its transcript. So a text embedding and a video-clip embedding are comparable by
cosine similarity, and both are comparable with what search retrieves.

**Dimension.** Marengo 3.0/3.5 vectors have 512 values (`WIRE_DIM`). The joint space has 384
(MiniLM); vectors go on the wire L2-normalised and zero-padded to 512, which leaves every cosine
similarity (and dot product) unchanged. Marengo 3.5's `embedding_dimension=256` returns the first
256 values, re-normalised (Matryoshka semantics: a prefix of the full vector), which is lossy here.
Every endpoint that emits vectors (v1, v2, tasks) goes through `to_wire`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import math
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, PayloadTooLarge, ServiceError
from framedex.ids import is_id, new_id, parse_rfc3339, rfc3339, utcnow
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, ImageArray
from framedex.services.media import MAX_IMAGE_BYTES
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.tables_entities import EmbedTaskRow

log = logging.getLogger("framedex.embeddings")

WIRE_DIM = 512
EMBED_TASK_JOB = "embed_task"
V2_MODELS = ("marengo3.0", "marengo3.5")
SYNC_MAX_SECONDS = {"marengo3.0": 600.0, "marengo3.5": 30.0}
BASE64_MAX_BYTES = {"marengo3.0": 36 * 1024**2, "marengo3.5": 32 * 1024**2}
IMAGE_MAX_BYTES = MAX_IMAGE_BYTES
TASK_MAX_SECONDS = 4 * 3600.0
MAX_TEXT_TOKENS = {"marengo3.0": 500, "marengo3.5": 2000}
MAX_MEDIA_SOURCES = 10
RETENTION = timedelta(days=7)
VIDEO_OPTIONS = ("visual", "audio", "transcription")
AUDIO_OPTIONS = ("audio", "transcription")
V1_AUDIO_SEGMENT_SECONDS = 10.0
AUDIO_MIN_SAMPLES = int(0.96 * AUDIO_SAMPLE_RATE)  # one YAMNet patch
_PLACEHOLDER = re.compile(r"<@([^<>\s]+)>")


class ContentTooLarge(PayloadTooLarge):
    """413 on `POST /embed-v2`; the router renders it with the nested `{"error": {...}}` envelope."""

    code = "content_too_large"


# --- vectors ------------------------------------------------------------------------------------


def normalise(vec: FloatArray) -> FloatArray | None:
    """L2-normalised copy, or None for a zero (or non-finite) vector, which matches nothing."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    if not math.isfinite(n) or n < 1e-8:
        return None
    return (v / n).astype(np.float32)


def mean_vector(vectors: list[FloatArray]) -> FloatArray | None:
    unit = [u for u in (normalise(v) for v in vectors) if u is not None]
    if not unit:
        return None
    return normalise(np.mean(np.stack(unit), axis=0))


def to_wire(vec: FloatArray, dim: int = WIRE_DIM) -> list[float]:
    """The wire form of a joint-space vector: L2-normalised and zero-padded to `dim` values.

    A vector longer than 512 (a plugged-in CLIP with a wider space) is sent whole rather than cut,
    since cutting would change its cosines; only an explicit smaller `embedding_dimension` cuts."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    if v.size < dim:
        v = np.concatenate([v, np.zeros(dim - v.size, dtype=np.float32)])
    elif v.size > dim and dim < WIRE_DIM:
        v = v[:dim]
    unit = normalise(v)
    out = unit if unit is not None else v
    return [round(float(x), 7) for x in out]


# --- media --------------------------------------------------------------------------------------


@dataclass
class Media:
    path: Path
    input_url: str | None = None
    input_filename: str | None = None


def _source_dict(source: Any, name: str) -> dict[str, Any]:
    if not isinstance(source, dict):
        raise MissingParameter(f"{name}.media_source")
    given = [k for k in ("base64_string", "url", "asset_id") if source.get(k)]
    if len(given) != 1:
        raise InvalidParameter(f"{name}.media_source", "Provide exactly one of base64_string, url or asset_id.")
    return source


def decode_base64(data: str, name: str, max_bytes: int) -> bytes:
    if "," in data[:100] and data.startswith("data:"):
        data = data.split(",", 1)[1]
    if len(data) * 3 // 4 > max_bytes + 3:
        raise ContentTooLarge(f"The decoded {name} exceeds the limit of {max_bytes // 1024**2} MB.")
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameter(name, "base64_string is not valid base64.") from exc
    if not raw:
        raise InvalidParameter(name, "base64_string is empty.")
    return raw


def check_source(platform: Platform, tenant_id: str, source: Any, name: str) -> dict[str, Any]:
    """Validate a media source at request time (cheap checks only)."""
    src = _source_dict(source, name)
    if src.get("url"):
        from framedex.ingest.fetch import validate_url

        validate_url(str(src["url"]), allow_private=platform.settings.allow_private_urls)
    elif src.get("asset_id"):
        from framedex.services.assets import get_asset

        with platform.store.session() as s:
            asset = get_asset(s, tenant_id, str(src["asset_id"]))
            if asset.status == "failed":
                raise InvalidParameter(f"{name}.media_source", "The asset failed processing.",
                                       code="asset_unavailable")
    return src


@contextlib.contextmanager
def open_media(platform: Platform, tenant_id: str, source: dict[str, Any], name: str, *,
               max_bytes: int, base64_max: int | None = None, blob_key: str | None = None) -> Iterator[Media]:
    """A local file with the media's bytes (a temp file for base64 and URLs, removed afterwards)."""
    from framedex.ingest.fetch import FetchError, download
    from framedex.services.assets import asset_blob_key, get_asset

    if blob_key is not None:  # bytes stored with an async task
        yield Media(platform.blobs.local_path(blob_key), None, None)
        return
    if source.get("asset_id"):
        with platform.store.session() as s:
            asset = get_asset(s, tenant_id, str(source["asset_id"]))
            key, url, filename = asset.blob_key or asset_blob_key(asset.id), asset.source_url, asset.filename
        if platform.blobs.exists(key):
            yield Media(platform.blobs.local_path(key), url, filename)
            return
        if not url:
            raise InvalidParameter(f"{name}.media_source", "The asset has no media yet.", code="asset_unavailable")
        source = {"url": url}
    with tempfile.TemporaryDirectory(prefix="framedex-embed-") as tmp:
        path = Path(tmp) / "media"
        if source.get("base64_string"):
            raw = decode_base64(str(source["base64_string"]), name, base64_max or max_bytes)
            path.write_bytes(raw)
            yield Media(path, None, None)
            return
        url = str(source["url"])
        settings = platform.settings
        with path.open("wb") as out:
            try:
                download(url, out, max_bytes=max_bytes, timeout=settings.url_download_timeout_seconds,
                         allow_private=settings.allow_private_urls)
            except FetchError as exc:
                raise InvalidParameter(f"{name}.media_source", f"The media could not be downloaded: {exc}.",
                                       code="media_unavailable") from exc
        yield Media(path, url, url.rsplit("/", 1)[-1].split("?")[0] or None)


def load_image(data: bytes | Path) -> ImageArray:
    """RGB uint8 (H, W, 3) from encoded image bytes (JPEG, PNG, WebP, BMP, GIF's first frame); an image bomb is
    refused from its header before it is decoded."""
    from framedex.services.media import decode_image

    rgb = decode_image(data.read_bytes() if isinstance(data, Path) else data, "image", code="image_file_broken")
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 8:
        raise InvalidParameter("image", "The image is too small.", code="image_file_broken")
    return rgb


# --- encoders -----------------------------------------------------------------------------------


def embed_texts(platform: Platform, texts: list[str]) -> FloatArray:
    """Texts into the joint space (the vision encoder's text tower, which is MiniLM by default)."""
    return np.asarray(platform.models.vision().embed_text(texts), dtype=np.float32)


def embed_transcript_texts(platform: Platform, texts: list[str]) -> FloatArray:
    """Transcript text the way ingest embeds it for semantic transcription search."""
    return np.asarray(platform.models.text().embed(texts), dtype=np.float32)


def embed_images(platform: Platform, images: list[ImageArray]) -> list[FloatArray]:
    """Joint-space vectors of images, exactly as ingest computes them for sampled frames."""
    if not images:
        return []
    return [np.asarray(a.embedding, dtype=np.float32) for a in platform.models.frames().analyze(images)]


# --- segmentation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    start: float
    end: float


def fixed_spans(start: float, end: float, length: float) -> list[Span]:
    """[start, start+length), ... ; the last one may be shorter (as the real API documents)."""
    spans: list[Span] = []
    t = start
    while t < end - 1e-6:
        e = min(end, t + length)
        if spans and e - t < 0.25:  # a sliver: extend the previous span instead
            spans[-1] = Span(spans[-1].start, round(e, 3))
            break
        spans.append(Span(round(t, 3), round(e, 3)))
        t = e
    return spans


def dynamic_spans(start: float, end: float, cuts: list[float], min_duration: float) -> list[Span]:
    from framedex.ingest.segment import clips_from_boundaries

    local = [c - start for c in cuts if start < c < end]
    clips = clips_from_boundaries(end - start, local, min_length=float(min_duration), max_length=10.0)
    return [Span(round(start + c.start, 3), round(start + c.end, 3)) for c in clips]


def parse_segmentation(raw: Any, name: str, *, audio: bool) -> tuple[str, float]:
    """(strategy, seconds): `fixed` + duration_sec, or `dynamic` + min_duration_sec.
    Accepts the Marengo 3.0 shape and the 3.5 `{"temporal": {...}}` wrapper."""
    default = ("fixed", 6.0) if audio else ("dynamic", 4.0)
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise InvalidParameter(f"{name}.segmentation", "It must be an object.")
    if isinstance(raw.get("temporal"), dict):
        raw = raw["temporal"]
    strategy = raw.get("strategy") or ("fixed" if "fixed" in raw else "dynamic" if "dynamic" in raw else None)
    if strategy == "fixed":
        conf = raw.get("fixed") or {}
        value = conf.get("duration_sec") if isinstance(conf, dict) else None
        if not isinstance(value, int | float) or not 2 <= value <= 10:
            raise InvalidParameter(f"{name}.segmentation", "fixed.duration_sec must be between 2 and 10.")
        return "fixed", float(value)
    if strategy == "dynamic":
        if audio:
            raise InvalidParameter(f"{name}.segmentation", "Audio supports only the fixed strategy.")
        conf = raw.get("dynamic") or {}
        value = conf.get("min_duration_sec") if isinstance(conf, dict) else None
        if not isinstance(value, int | float) or not 2 <= value <= 5:
            raise InvalidParameter(f"{name}.segmentation", "dynamic.min_duration_sec must be between 2 and 5.")
        return "dynamic", float(value)
    raise InvalidParameter(f"{name}.segmentation", "strategy must be fixed or dynamic.")


# --- media embedding ----------------------------------------------------------------------------


@dataclass
class Piece:
    """One output vector."""

    vector: FloatArray
    option: str | None  # visual | audio | transcription | fused | None (text, image)
    scope: str | None  # clip | asset | None
    start: float | None = None
    end: float | None = None


@dataclass
class MediaPlan:
    """What to compute for one audio or video input."""

    options: list[str]
    scopes: list[str]
    types: list[str] = field(default_factory=lambda: ["separate_embedding"])
    start: float | None = None
    end: float | None = None
    strategy: str = "fixed"
    seconds: float = 6.0


@dataclass
class MediaResult:
    pieces: list[Piece]
    duration: float
    start: float
    end: float


def _window(plan: MediaPlan, duration: float, max_seconds: float | None) -> tuple[float, float]:
    start = float(plan.start or 0.0)
    end = float(plan.end) if plan.end is not None else duration
    if start < 0 or (plan.end is not None and end <= start):
        raise InvalidParameter("end_sec", "end_sec must be greater than start_sec, and start_sec at least 0.")
    if start >= duration:
        raise InvalidParameter("start_sec", f"start_sec is past the end of the media ({duration:.1f}s).")
    end = min(end, duration)
    if max_seconds is not None and end - start > max_seconds + 0.5:
        raise InvalidParameter(
            "media_source", f"The media is {end - start:.0f}s long; the limit for this model is {max_seconds:g}s. "
            "Use /embed-v2/tasks for longer media.", code="media_duration_too_long")
    return start, end


def _speech_words(platform: Platform, audio: FloatArray) -> list[tuple[float, float, str]]:
    """(start, end, text) per word (or per segment when there are no word times), seconds into `audio`."""
    if audio.size < AUDIO_SAMPLE_RATE // 4:
        return []
    transcript = platform.models.speech().transcribe(audio)
    out: list[tuple[float, float, str]] = []
    for seg in transcript.segments:
        if seg.words:
            out.extend((w.start, w.end, w.text.strip()) for w in seg.words if w.text.strip())
        elif seg.text.strip():
            out.append((seg.start, seg.end, seg.text.strip()))
    return out


def _text_in(words: list[tuple[float, float, str]], span: Span) -> str:
    return " ".join(t for s, e, t in words if span.start <= (s + e) / 2 < span.end).strip()


def _audio_pieces(platform: Platform, audio: FloatArray, offset: float, spans: list[Span], window: Span,
                  plan: MediaPlan) -> dict[tuple[str, str, float], FloatArray]:
    """Audio and transcription vectors per span (and for the whole window); `audio` starts at `offset`."""
    out: dict[tuple[str, str, float], FloatArray] = {}

    def cut(span: Span) -> FloatArray:
        return audio[int((span.start - offset) * AUDIO_SAMPLE_RATE):int((span.end - offset) * AUDIO_SAMPLE_RATE)]

    targets = ([("clip", s) for s in spans] if "clip" in plan.scopes else []) + \
        ([("asset", window)] if "asset" in plan.scopes else [])
    if "audio" in plan.options:
        tagger = platform.models.audio()
        for scope, span in targets:
            piece = cut(span)
            if piece.size >= AUDIO_MIN_SAMPLES:
                vec = normalise(tagger.tag(piece).embedding)
                if vec is not None:
                    out[("audio", scope, span.start)] = vec
    if "transcription" in plan.options:
        words = [(s + offset, e + offset, t) for s, e, t in _speech_words(platform, cut(window))]
        texts = [(scope, span, _text_in(words, span)) for scope, span in targets]
        texts = [(scope, span, text) for scope, span, text in texts if text]
        if texts:
            vectors = embed_transcript_texts(platform, [text for _, _, text in texts])
            for (scope, span, _), vec in zip(texts, vectors, strict=True):
                unit = normalise(vec)
                if unit is not None:
                    out[("transcription", scope, span.start)] = unit
    return out


def _assemble(spans: list[Span], window: Span, plan: MediaPlan,
              vectors: dict[tuple[str, str, float], FloatArray]) -> list[Piece]:
    pieces: list[Piece] = []
    targets = ([("clip", s) for s in spans] if "clip" in plan.scopes else []) + \
        ([("asset", window)] if "asset" in plan.scopes else [])
    for scope, span in targets:
        found = [(o, vectors[(o, scope, span.start)]) for o in plan.options if (o, scope, span.start) in vectors]
        if "separate_embedding" in plan.types:
            pieces.extend(Piece(v, o, scope, span.start, span.end) for o, v in found)
        if "fused_embedding" in plan.types:
            fused = mean_vector([v for _, v in found])
            if fused is not None:
                pieces.append(Piece(fused, "fused", scope, span.start, span.end))
    return pieces


def embed_video_file(platform: Platform, path: Path, plan: MediaPlan, *,
                     max_seconds: float | None = None) -> MediaResult:
    from framedex.ingest.decode import SampledFrame, decode_audio
    from framedex.ingest.probe import MediaRejected, probe
    from framedex.ingest.scan import scan_video

    try:
        info = probe(path)
    except MediaRejected as exc:
        raise InvalidParameter("video", exc.message, code="video_file_broken") from exc
    if not info.has_video:
        raise InvalidParameter("video", "The file has no video stream.", code="video_file_broken")
    start, end = _window(plan, info.duration, max_seconds)
    sample_fps = 2.0 if end - start <= 60 else 1.0
    frame_vectors: list[tuple[float, FloatArray]] = []
    batch: list[SampledFrame] = []
    want_visual = "visual" in plan.options

    def flush() -> None:
        if batch:
            vecs = embed_images(platform, [f.image for f in batch])
            frame_vectors.extend((f.time, v) for f, v in zip(batch, vecs, strict=True))
            batch.clear()

    def on_frame(frame: SampledFrame) -> None:
        if want_visual and start - 1e-3 <= frame.time < end + 1e-3:
            batch.append(frame)
            if len(batch) >= 8:
                flush()

    scan = scan_video(path, on_frame, sample_fps=sample_fps, max_side=640,
                      threads=platform.settings.model_threads)
    flush()
    if plan.strategy == "fixed":
        spans = fixed_spans(start, end, plan.seconds)
    else:
        spans = dynamic_spans(start, end, scan.cuts, plan.seconds)
    window = Span(round(start, 3), round(end, 3))
    vectors: dict[tuple[str, str, float], FloatArray] = {}
    if want_visual and frame_vectors:
        targets = ([("clip", s) for s in spans] if "clip" in plan.scopes else []) + \
            ([("asset", window)] if "asset" in plan.scopes else [])
        for scope, span in targets:
            inside = [v for t, v in frame_vectors if span.start - 1e-3 <= t < span.end]
            if not inside:  # a span shorter than the sampling interval: its nearest frame
                middle = (span.start + span.end) / 2
                inside = [min(frame_vectors, key=lambda tv: abs(tv[0] - middle))[1]]
            vec = mean_vector(inside)
            if vec is not None:
                vectors[("visual", scope, span.start)] = vec
    if info.has_audio and ({"audio", "transcription"} & set(plan.options)):
        audio = decode_audio(path, until=end)
        piece = audio[int(start * AUDIO_SAMPLE_RATE):int(end * AUDIO_SAMPLE_RATE)]
        vectors.update(_audio_pieces(platform, piece, start, spans, window, plan))
    return MediaResult(_assemble(spans, window, plan, vectors), info.duration, start, end)


def embed_audio_file(platform: Platform, path: Path, plan: MediaPlan, *,
                     max_seconds: float | None = None) -> MediaResult:
    from framedex.ingest.decode import decode_audio
    from framedex.ingest.probe import MediaRejected, probe

    try:
        info = probe(path)
    except MediaRejected as exc:
        raise InvalidParameter("audio", exc.message, code="audio_file_broken") from exc
    if not info.has_audio:
        raise InvalidParameter("audio", "The file has no audio stream.", code="audio_file_broken")
    # The window is checked before anything is decoded; the decode keeps its budget from the file's header, so a
    # stream that runs past what its header declares stops with a clear error instead of filling memory.
    start, end = _window(plan, info.duration, max_seconds)
    audio = decode_audio(path, until=end)
    duration = max(info.duration, audio.size / AUDIO_SAMPLE_RATE)
    spans = fixed_spans(start, end, plan.seconds)
    window = Span(round(start, 3), round(end, 3))
    piece = audio[int(start * AUDIO_SAMPLE_RATE):int(end * AUDIO_SAMPLE_RATE)]
    vectors = _audio_pieces(platform, piece, start, spans, window, plan)
    return MediaResult(_assemble(spans, window, plan, vectors), duration, start, end)


# --- request parsing ----------------------------------------------------------------------------


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


def _number(raw: Any, name: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise InvalidParameter(name, "It must be a number of seconds, at least 0.")
    return float(raw)


def media_plan(model: str, kind: str, body: dict[str, Any], *, task: bool) -> MediaPlan:
    """The MediaPlan of a v2 `audio` / `video` input object."""
    audio = kind == "audio"
    option_values: tuple[str, ...] = AUDIO_OPTIONS if audio else VIDEO_OPTIONS
    if model == "marengo3.5":
        default_options = ["audio"] if audio else ["visual", "audio"]
        option_values = tuple(o for o in option_values if o != "transcription")
    else:
        default_options = list(option_values)
    options = _str_list(body.get("embedding_option"), f"{kind}.embedding_option", option_values, default_options)
    scopes = _str_list(body.get("embedding_scope"), f"{kind}.embedding_scope", ("clip", "local", "asset"),
                       ["clip", "asset"])
    scopes = list(dict.fromkeys("clip" if s == "local" else s for s in scopes))
    types = _str_list(body.get("embedding_type"), f"{kind}.embedding_type",
                      ("separate_embedding", "fused_embedding"), ["separate_embedding"])
    strategy, seconds = parse_segmentation(body.get("segmentation"), kind, audio=audio)
    start, end = _number(body.get("start_sec"), f"{kind}.start_sec"), _number(body.get("end_sec"), f"{kind}.end_sec")
    if start is not None and end is not None and end <= start:
        raise InvalidParameter(f"{kind}.end_sec", "end_sec must be greater than start_sec.")
    return MediaPlan(options, scopes, types, start, end, strategy, seconds)


def _model(raw: Any) -> str:
    if not raw:
        raise MissingParameter("model_name")
    if raw not in V2_MODELS:
        raise InvalidParameter("model_name", f"Use one of {list(V2_MODELS)}.", code="model_not_supported")
    return str(raw)


def _check_text(model: str, text: Any, name: str, auto_truncate: bool) -> tuple[str, int, bool]:
    if not isinstance(text, str) or not text.strip():
        raise MissingParameter(name)
    tokens = len(re.findall(r"\w+|[^\w\s]", text))
    limit = MAX_TEXT_TOKENS.get(model, 500)
    if tokens > limit:
        if not auto_truncate:
            raise InvalidParameter(name, f"The text has about {tokens} tokens; the limit is {limit}.",
                                   code="text_too_long")
        return text, tokens, True
    return text, tokens, False


def _data(pieces: list[Piece], dim: int) -> list[dict[str, Any]]:
    order = {"visual": 0, "audio": 1, "transcription": 2, "fused": 3}
    pieces = sorted(pieces, key=lambda p: (p.scope == "asset", p.start or 0.0, order.get(p.option or "", 9)))
    return [{"embedding": to_wire(p.vector, dim), "embedding_option": p.option, "embedding_scope": p.scope,
             "start_sec": p.start, "end_sec": p.end} for p in pieces]


def _dimension(model: str, raw: Any) -> int:
    if raw is None:
        return WIRE_DIM
    if model != "marengo3.5":
        raise InvalidParameter("embedding_dimension", "embedding_dimension requires marengo3.5.")
    if isinstance(raw, bool) or raw not in (256, 512):
        raise InvalidParameter("embedding_dimension", "Use 256 or 512.")
    return int(raw)


def _media_metadata(kind: str, media: Media, plan: MediaPlan, result: MediaResult, model: str,
                    dim: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "input_type": kind, "input_url": media.input_url, "input_filename": media.input_filename,
        "embedding_options": plan.options, "embedding_scopes": plan.scopes,
        "duration": round(result.duration, 3), "start_offset_sec": round(result.start, 3),
        "end_offset_sec": round(result.end, 3),
    }
    if kind == "video" and plan.strategy == "fixed":
        meta["clip_length"] = int(plan.seconds)
    if model == "marengo3.5":
        meta["embedding_dimension"] = dim
    return meta


# --- POST /embed-v2 -----------------------------------------------------------------------------


def create_v2(platform: Platform, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Synchronous embeddings; returns the `EmbeddingSuccessResponse` JSON."""
    model = _model(body.get("model_name"))
    input_type = body.get("input_type")
    if not input_type:
        raise MissingParameter("input_type")
    allowed = ("multi_input",) if model == "marengo3.5" else ("text", "image", "text_image", "audio", "video",
                                                             "multi_input")
    if input_type not in allowed:
        raise InvalidParameter("input_type", f"{model} accepts input_type {list(allowed)}.")
    for flag in ("auto_truncate", "embedding_uncertainty"):
        if body.get(flag) is not None and model != "marengo3.5":
            raise InvalidParameter(flag, f"{flag} requires marengo3.5.")
    if body.get("embedding_uncertainty"):
        raise InvalidParameter("embedding_uncertainty", "Uncertainty vectors are not available on this server.",
                               code="parameter_not_supported")
    dim = _dimension(model, body.get("embedding_dimension"))
    spec = body.get(input_type)
    if not isinstance(spec, dict):
        raise MissingParameter(str(input_type))
    out: dict[str, Any] = {}
    usage_tokens: dict[str, int] = {}
    truncated = False
    if input_type == "text":
        text, tokens, truncated = _check_text(model, spec.get("input_text"), "text.input_text",
                                              bool(body.get("auto_truncate")))
        usage_tokens["text"] = tokens
        out = {"data": [{"embedding": to_wire(embed_texts(platform, [text])[0], dim)}]}
    elif input_type in ("image", "text_image"):
        src = check_source(platform, tenant_id, spec.get("media_source"), input_type)
        vectors: list[FloatArray] = []
        if input_type == "text_image":
            text, tokens, truncated = _check_text(model, spec.get("input_text"), "text_image.input_text",
                                                  bool(body.get("auto_truncate")))
            usage_tokens["text"] = tokens
            vectors.append(embed_texts(platform, [text])[0])
        with open_media(platform, tenant_id, src, input_type, max_bytes=IMAGE_MAX_BYTES) as media:
            image = load_image(media.path)
            vectors.extend(embed_images(platform, [image]))
            meta = {"input_type": input_type, "input_url": media.input_url, "input_filename": media.input_filename}
        vec = mean_vector(vectors)
        out = {"data": [{"embedding": to_wire(vec if vec is not None else vectors[0], dim)}], "metadata": meta}
    elif input_type in ("audio", "video"):
        plan = media_plan(model, input_type, spec, task=False)
        src = check_source(platform, tenant_id, spec.get("media_source"), input_type)
        limit = platform.settings.max_url_download_bytes
        with open_media(platform, tenant_id, src, input_type, max_bytes=limit,
                        base64_max=BASE64_MAX_BYTES[model]) as media:
            embed = embed_audio_file if input_type == "audio" else embed_video_file
            result = embed(platform, media.path, plan, max_seconds=SYNC_MAX_SECONDS[model])
            out = {"data": _data(result.pieces, dim),
                   "metadata": _media_metadata(input_type, media, plan, result, model, dim)}
    else:  # multi_input
        out = _multi_input(platform, tenant_id, model, spec, dim, usage_tokens)
    if model == "marengo3.5":
        out["usage"] = {"input_tokens": usage_tokens, "truncated": truncated}
        if truncated:
            out["usage"]["truncation_reason"] = "model_context_window"
        out.setdefault("metadata", {"input_type": input_type, "embedding_dimension": dim})
    return out


def _multi_input(platform: Platform, tenant_id: str, model: str, spec: dict[str, Any], dim: int,
                 usage_tokens: dict[str, int]) -> dict[str, Any]:
    """Text with `<@name>` placeholders plus up to 10 media sources, fused into one vector."""
    sources = spec.get("media_sources") or []
    text = spec.get("input_text")
    if not isinstance(sources, list) or len(sources) > MAX_MEDIA_SOURCES:
        raise InvalidParameter("multi_input.media_sources", f"Give at most {MAX_MEDIA_SOURCES} media sources.")
    if not sources and not (isinstance(text, str) and text.strip()):
        raise MissingParameter("multi_input.input_text")
    vectors: list[FloatArray] = []
    names = {str(s.get("name")) for s in sources if isinstance(s, dict) and s.get("name")}
    if isinstance(text, str) and text.strip():
        unknown = [n for n in _PLACEHOLDER.findall(text) if n not in names]
        if unknown:
            raise InvalidParameter("multi_input.input_text", f"No media source is named {unknown[0]!r}.")
        plain = re.sub(r"\s+", " ", _PLACEHOLDER.sub(" ", text)).strip()
        usage_tokens["text"] = len(re.findall(r"\w+|[^\w\s]", text))
        if plain:
            vectors.append(embed_texts(platform, [plain])[0])
    for i, source in enumerate(sources):
        name = f"multi_input.media_sources[{i}]"
        if not isinstance(source, dict):
            raise InvalidParameter(name, "It must be an object.")
        media_type = source.get("media_type")
        if media_type != "image":
            raise InvalidParameter(name, "Only image media sources are supported here.",
                                   code="parameter_not_supported")
        src = check_source(platform, tenant_id, {k: source.get(k) for k in ("base64_string", "url", "asset_id")}, name)
        with open_media(platform, tenant_id, src, name, max_bytes=IMAGE_MAX_BYTES) as media:
            vectors.extend(embed_images(platform, [load_image(media.path)]))
        usage_tokens["image"] = usage_tokens.get("image", 0) + 1
    vec = mean_vector(vectors)
    if vec is None:
        vec = np.zeros(WIRE_DIM, dtype=np.float32)
    return {"data": [{"embedding": to_wire(vec, dim)}],
            "metadata": {"input_type": "multi_input", **({"embedding_dimension": dim} if model == "marengo3.5"
                                                         else {})}}


# --- POST /embed (v1) ---------------------------------------------------------------------------


def _v1_model(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise MissingParameter("model_name")
    name = raw.strip()
    if not name.lower().startswith(("marengo", "marengo-retrieval")):
        raise InvalidParameter("model_name", "Use marengo3.0.", code="model_not_supported")
    return name


def create_v1(platform: Platform, tenant_id: str, *, model_name: Any, text: str | None,
              image_bytes: bytes | None, image_filename: str | None, image_url: str | None,
              audio_bytes: bytes | None, audio_filename: str | None, audio_url: str | None,
              audio_start_offset_sec: float | None) -> dict[str, Any]:
    """`EmbeddingResponse`: any of text, image and audio in one call."""
    model = _v1_model(model_name)
    if not text and image_bytes is None and not image_url and audio_bytes is None and not audio_url:
        raise MissingParameter("text")
    out: dict[str, Any] = {"model_name": model}
    if text is not None and text != "":
        clean, _, _ = _check_text("marengo3.0", text, "text", False)
        out["text_embedding"] = {"segments": [{"float": to_wire(embed_texts(platform, [clean])[0])}]}
    if image_bytes is not None or image_url:
        if image_bytes is not None:
            image = load_image(image_bytes)
            meta = {"input_filename": image_filename}
        else:
            src = check_source(platform, tenant_id, {"url": image_url}, "image_url")
            with open_media(platform, tenant_id, src, "image_url", max_bytes=IMAGE_MAX_BYTES) as media:
                image = load_image(media.path)
            meta = {"input_url": image_url}
        vec = embed_images(platform, [image])[0]
        out["image_embedding"] = {"segments": [{"float": to_wire(vec)}], "metadata": meta}
    if audio_bytes is not None or audio_url:
        plan = MediaPlan(["audio", "transcription"], ["clip"], ["fused_embedding"],
                         start=audio_start_offset_sec, strategy="fixed", seconds=V1_AUDIO_SEGMENT_SECONDS)
        with contextlib.ExitStack() as stack:
            if audio_bytes is not None:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="framedex-embed-"))) / "audio"
                tmp.write_bytes(audio_bytes)
                path, meta = tmp, {"input_filename": audio_filename}
            else:
                src = check_source(platform, tenant_id, {"url": audio_url}, "audio_url")
                media = stack.enter_context(open_media(platform, tenant_id, src, "audio_url",
                                                       max_bytes=platform.settings.max_url_download_bytes))
                path, meta = media.path, {"input_url": audio_url}
            result = embed_audio_file(platform, path, plan, max_seconds=SYNC_MAX_SECONDS["marengo3.0"])
        # v1 audio combines sound and speech in one vector per segment.
        out["audio_embedding"] = {
            "segments": [{"float": to_wire(p.vector), "start_offset_sec": p.start, "end_offset_sec": p.end}
                         for p in sorted(result.pieces, key=lambda p: p.start or 0.0)],
            "metadata": meta,
        }
    return out


# --- async tasks (v1 and v2) --------------------------------------------------------------------


def _source_blob_key(task_id: str) -> str:
    return f"embed_tasks/{task_id}/source"


def _result_blob_key(task_id: str) -> str:
    return f"embed_tasks/{task_id}/result.json"


def create_task_v2(platform: Platform, tenant_id: str, body: dict[str, Any]) -> EmbedTaskRow:
    model = _model(body.get("model_name"))
    input_type = body.get("input_type")
    if not input_type:
        raise MissingParameter("input_type")
    allowed = ("audio", "video", "image") if model == "marengo3.5" else ("audio", "video")
    if input_type not in allowed:
        raise InvalidParameter("input_type", f"{model} accepts input_type {list(allowed)} for async tasks.")
    if body.get("embedding_uncertainty"):
        raise InvalidParameter("embedding_uncertainty", "Uncertainty vectors are not available on this server.",
                               code="parameter_not_supported")
    dim = _dimension(model, body.get("embedding_dimension"))
    spec = body.get(input_type)
    if not isinstance(spec, dict):
        raise MissingParameter(str(input_type))
    src = check_source(platform, tenant_id, spec.get("media_source"), str(input_type))
    request: dict[str, Any] = {"dimension": dim}
    if input_type in ("audio", "video"):
        plan = media_plan(model, input_type, spec, task=True)
        request["plan"] = {"options": plan.options, "scopes": plan.scopes, "types": plan.types,
                           "start": plan.start, "end": plan.end, "strategy": plan.strategy, "seconds": plan.seconds}
    return _new_task(platform, tenant_id, api="v2", model=model, input_type=str(input_type), source=src,
                     request=request, base64_max=BASE64_MAX_BYTES[model])


def create_task_v1(platform: Platform, tenant_id: str, *, model_name: Any, video_url: str | None,
                   video_stream: Any, video_filename: str | None, start_offset: float | None,
                   end_offset: float | None, clip_length: float | None, scopes: list[str]) -> EmbedTaskRow:
    model = _v1_model(model_name)
    if (start_offset is None) != (end_offset is None):
        raise InvalidParameter("video_end_offset_sec", "Set both video_start_offset_sec and video_end_offset_sec.")
    length = 6.0 if clip_length is None else float(clip_length)
    if not 2 <= length <= 10:
        raise InvalidParameter("video_clip_length", "It must be between 2 and 10.")
    if start_offset is not None and end_offset is not None and end_offset - start_offset < length - 1e-6:
        raise InvalidParameter("video_end_offset_sec",
                               "The end offset must be at least video_start_offset_sec + video_clip_length.")
    scopes = scopes or ["clip"]
    bad = [s for s in scopes if s not in ("clip", "video")]
    if bad:
        raise InvalidParameter("video_embedding_scope", "Use clip and/or video.")
    legacy = "2.7" in model or "retrieval" in model.lower()
    options = ["visual-text", "audio"] if legacy else ["visual", "audio", "transcription"]
    request: dict[str, Any] = {
        "dimension": WIRE_DIM, "v1_options": options,
        "plan": {"options": ["visual", "audio"] if legacy else ["visual", "audio", "transcription"],
                 "scopes": ["asset" if s == "video" else s for s in dict.fromkeys(scopes)],
                 "types": ["separate_embedding"], "start": start_offset, "end": end_offset,
                 "strategy": "fixed", "seconds": length},
        "clip_length": length, "scopes": list(dict.fromkeys(scopes)),
    }
    if video_url:
        source: dict[str, Any] = {"url": video_url}
        check_source(platform, tenant_id, source, "video_url")
        return _new_task(platform, tenant_id, api="v1", model=model, input_type="video", source=source,
                         request=request)
    if video_stream is None:
        raise MissingParameter("video_file")
    return _new_task(platform, tenant_id, api="v1", model=model, input_type="video", source={},
                     request=request, stream=video_stream, filename=video_filename)


def _new_task(platform: Platform, tenant_id: str, *, api: str, model: str, input_type: str,
              source: dict[str, Any], request: dict[str, Any], base64_max: int | None = None,
              stream: Any = None, filename: str | None = None) -> EmbedTaskRow:
    from framedex.storage.blobs import BlobTooLarge

    task_id = new_id()
    source_key: str | None = None
    stored = {k: v for k, v in source.items() if k != "base64_string"}
    if source.get("base64_string"):
        raw = decode_base64(str(source["base64_string"]), input_type, base64_max or IMAGE_MAX_BYTES)
        source_key = _source_blob_key(task_id)
        platform.blobs.put_bytes(source_key, raw)
    elif stream is not None:
        source_key = _source_blob_key(task_id)
        try:
            platform.blobs.put_stream(source_key, stream, max_bytes=platform.settings.max_upload_bytes)
        except BlobTooLarge as exc:
            platform.blobs.delete_prefix(f"embed_tasks/{task_id}/")
            raise PayloadTooLarge("The video file is too large.") from exc
        stored = {"filename": filename}
    if source_key is not None and input_type in ("audio", "video"):
        _check_playable(platform, source_key, input_type, task_id)
    meta: dict[str, Any] = {"input_url": source.get("url"), "input_filename": filename}
    row = EmbedTaskRow(id=task_id, tenant_id=tenant_id, api=api, model_name=model, input_type=input_type,
                       status="processing", request={**request, "source": stored}, meta=meta,
                       source_key=source_key)
    with platform.store.session() as s:
        s.add(row)
        platform.queue.enqueue(EMBED_TASK_JOB, {"task_id": task_id}, session=s)
    return row


def _check_playable(platform: Platform, key: str, input_type: str, task_id: str) -> None:
    from framedex.ingest.probe import MediaRejected, probe

    try:
        info = probe(platform.blobs.local_path(key))
    except MediaRejected as exc:
        platform.blobs.delete_prefix(f"embed_tasks/{task_id}/")
        raise InvalidParameter(input_type, exc.message, code=f"{input_type}_file_broken") from exc
    if (input_type == "video" and not info.has_video) or (input_type == "audio" and not info.has_audio):
        platform.blobs.delete_prefix(f"embed_tasks/{task_id}/")
        raise InvalidParameter(input_type, f"The file has no {input_type} stream.", code=f"{input_type}_file_broken")


def get_task(platform: Platform, tenant_id: str, task_id: str, api: str) -> EmbedTaskRow:
    with platform.store.session() as s:
        row = s.get(EmbedTaskRow, task_id) if is_id(task_id) else None
        if row is None or row.tenant_id != tenant_id or row.api != api:
            raise NotFound("embedding task", task_id)
        return row


def task_result(platform: Platform, row: EmbedTaskRow) -> dict[str, Any] | None:
    if row.status != "ready" or not row.result_key or not platform.blobs.exists(row.result_key):
        return None
    with platform.blobs.open(row.result_key) as f:
        result: dict[str, Any] = json.loads(f.read())
    return result


def list_tasks(platform: Platform, tenant_id: str, api: str, page: PageRequest, *, started_at: str | None,
               ended_at: str | None, status: str | None) -> Page[EmbedTaskRow]:
    query = select(EmbedTaskRow).where(EmbedTaskRow.tenant_id == tenant_id, EmbedTaskRow.api == api)
    try:
        if started_at:
            query = query.where(EmbedTaskRow.created_at >= parse_rfc3339(started_at))
        if ended_at:
            query = query.where(EmbedTaskRow.created_at <= parse_rfc3339(ended_at))
    except ValueError as exc:
        raise InvalidParameter("started_at", "Use RFC 3339, e.g. 2024-01-01T00:00:00Z.") from exc
    if not started_at and not ended_at:
        query = query.where(EmbedTaskRow.created_at >= utcnow() - RETENTION)
    if status:
        if status not in ("processing", "ready", "failed"):
            raise InvalidParameter("status", "Use processing, ready or failed.")
        query = query.where(EmbedTaskRow.status == status)
    query = query.order_by(EmbedTaskRow.created_at.desc(), EmbedTaskRow.id.desc())
    with platform.store.session() as s:
        return paginate(s, query, page)


def run_task(platform: Platform, task_id: str) -> None:
    """The job: embed the task's media and store the result; failures of the input fail the task."""
    with platform.store.session() as s:
        row = s.get(EmbedTaskRow, task_id)
        if row is None or row.status != "processing":
            return
        tenant_id, request, source_key = row.tenant_id, dict(row.request), row.source_key
        model, input_type, api = row.model_name, row.input_type, row.api
    source = dict(request.get("source") or {})
    dim = int(request.get("dimension") or WIRE_DIM)
    try:
        with open_media(platform, tenant_id, source, input_type, max_bytes=platform.settings.max_url_download_bytes,
                        blob_key=source_key) as media:
            media.input_url = media.input_url or source.get("url")
            media.input_filename = media.input_filename or source.get("filename")
            if input_type == "image":
                vec = embed_images(platform, [load_image(media.path)])[0]
                result: dict[str, Any] = {"data": [{"embedding": to_wire(vec, dim), "embedding_option": "visual",
                                                    "embedding_scope": "asset"}]}
                meta: dict[str, Any] = {"input_type": "image", "input_url": media.input_url,
                                        "input_filename": media.input_filename, "embedding_options": ["visual"],
                                        "embedding_scopes": ["asset"]}
            else:
                plan = MediaPlan(**request["plan"])
                embed = embed_audio_file if input_type == "audio" else embed_video_file
                media_result = embed(platform, media.path, plan, max_seconds=TASK_MAX_SECONDS)
                meta = _media_metadata(input_type, media, plan, media_result, model, dim)
                if api == "v1":
                    result = {"segments": _v1_segments(media_result.pieces, request)}
                    meta = {"input_url": media.input_url, "input_filename": media.input_filename,
                            "video_clip_length": request.get("clip_length", 6.0),
                            "video_embedding_scope": request.get("scopes", ["clip"]),
                            "video_embedding_option": request.get("v1_options"),
                            "duration": round(media_result.duration, 3)}
                else:
                    result = {"data": _data(media_result.pieces, dim)}
    except ServiceError as exc:
        _finish(platform, task_id, status="failed", error=exc.message)
        return
    key = _result_blob_key(task_id)
    platform.blobs.put_bytes(key, json.dumps(result).encode())
    _finish(platform, task_id, status="ready", result_key=key, meta=meta)


def _v1_segments(pieces: list[Piece], request: dict[str, Any]) -> list[dict[str, Any]]:
    legacy = "visual-text" in (request.get("v1_options") or [])
    out = []
    for p in sorted(pieces, key=lambda p: (p.scope == "asset", p.start or 0.0, p.option or "")):
        option = "visual-text" if legacy and p.option == "visual" else p.option
        out.append({"float": to_wire(p.vector), "start_offset_sec": p.start, "end_offset_sec": p.end,
                    "embedding_option": option, "embedding_scope": "video" if p.scope == "asset" else "clip"})
    return out


def _finish(platform: Platform, task_id: str, *, status: str, error: str | None = None,
            result_key: str | None = None, meta: dict[str, Any] | None = None) -> None:
    with platform.store.session() as s:
        row = s.get(EmbedTaskRow, task_id)
        if row is None:
            return
        row.status = status
        row.error = error
        row.result_key = result_key
        if meta is not None:
            row.meta = meta
        row.updated_at = utcnow()
        if status in ("ready", "failed") and row.source_key:
            platform.blobs.delete(row.source_key)
            row.source_key = None


def give_up_task(platform: Platform, task_id: str, reason: str) -> None:
    _finish(platform, task_id, status="failed", error=f"The embedding task could not complete processing: {reason}")


def job_handlers(platform: Platform) -> dict[str, Any]:
    """Job kinds of this module, for the worker (collected by `framedex.platform.job_handlers`)."""
    from framedex.jobs.worker import JobHandler

    return {EMBED_TASK_JOB: JobHandler(lambda job: run_task(platform, job.payload["task_id"]),
                                       lambda job, reason: give_up_task(platform, job.payload["task_id"], reason))}


def task_times(row: EmbedTaskRow) -> tuple[str | None, str | None]:
    return rfc3339(row.created_at), rfc3339(row.updated_at)
