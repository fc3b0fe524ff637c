"""The extraction pipeline of the Embeddings API (media sources are opened by `services.media`): the
joint-space encoders, segmentation into spans, and the embedding of a video or audio file piece by
piece (`embed_video_file`, `embed_audio_file`). Separate from ingest on purpose: an embedding request
does not index anything, so it decodes, segments and encodes without writing clips or vectors.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framedex.domain_errors import InvalidParameter
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, ImageArray
from framedex.services.platform import Platform

log = logging.getLogger("framedex.embeddings")

WIRE_DIM = 512
AUDIO_MIN_SAMPLES = int(0.96 * AUDIO_SAMPLE_RATE)  # one YAMNet patch


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
