"""Embeddings API: the synchronous `POST /embed-v2` and v1 `POST /embed`; the async `/embed-v2/tasks` and
v1 `/embed/tasks` are in `tasks.py`.

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

The v2 services take typed requests (`inputs.py`: `EmbedInput`, `EmbedTaskInput`, built by the router from
the wire body) and answer `Embeddings` or task rows, which the router shapes into the API's JSON; the
extraction itself is in `extract.py`, media sources in `services.media`. `tasks.py` imports the limits and
helpers both share (`BASE64_MAX_BYTES`, `v1_model`, `ordered_pieces`, `media_metadata`) from here; this
module does not import it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from framedex.domain_errors import InvalidParameter, MissingParameter
from framedex.models.base import FloatArray
from framedex.services import documents
from framedex.services.embed.extract import (
    WIRE_DIM,
    MediaPlan,
    MediaResult,
    Piece,
    embed_audio_file,
    embed_images,
    embed_texts,
    embed_video_file,
    mean_vector,
)
from framedex.services.embed.inputs import (
    EmbedInput,
    ImageInput,
    MediaInput,
    MultiInput,
    TextInput,
    settle,
)
from framedex.services.media import (
    MAX_IMAGE_BYTES,
    Media,
    MediaSource,
    check_source,
    load_image,
    open_media,
)
from framedex.services.platform import Platform

log = logging.getLogger("framedex.embeddings")

SYNC_MAX_SECONDS = {"marengo3.0": 600.0, "marengo3.5": 30.0}
BASE64_MAX_BYTES = {"marengo3.0": 36 * 1024**2, "marengo3.5": 32 * 1024**2}
IMAGE_MAX_BYTES = MAX_IMAGE_BYTES
V1_AUDIO_SEGMENT_SECONDS = 10.0
_OPTION_ORDER = {"visual": 0, "audio": 1, "transcription": 2, "fused": 3}


def ordered_pieces(pieces: list[Piece]) -> list[Piece]:
    """A media input's pieces in the order the API lists them: clips by time, then the whole asset."""
    return sorted(pieces, key=lambda p: (p.scope == "asset", p.start or 0.0, _OPTION_ORDER.get(p.option or "", 9)))


def media_metadata(kind: str, media: Media, plan: MediaPlan, result: MediaResult, model: str,
                   dim: int) -> dict[str, Any]:
    """What an audio or video embedding was made of (a sync answer's and a v2 task's metadata)."""
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


@dataclass(frozen=True)
class Usage:
    """What a Marengo 3.5 request used: tokens per modality, in the order met, and whether its text was over
    the model's limit."""

    input_tokens: dict[str, int]
    truncated: bool = False


@dataclass(frozen=True)
class Embeddings:
    """The answer of a synchronous embedding request: its vectors (joint space, `to_wire` at ``dimension``
    makes them the API's), what they were made of (``metadata``, the same record a task keeps; None for a
    text), and for Marengo 3.5 the ``usage``."""

    pieces: list[Piece]
    dimension: int
    metadata: dict[str, Any] | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class LegacyEmbeddings:
    """The answer of a v1 `/embed` call: one vector per given text and image, the audio's per segment (sound and
    speech in one vector), each medium with where it came from (``{"input_filename"}`` or ``{"input_url"}``)."""

    model: str
    text: FloatArray | None = None
    image: FloatArray | None = None
    image_source: dict[str, Any] | None = None
    audio: list[Piece] | None = None
    audio_source: dict[str, Any] | None = None


@dataclass
class _Tally:
    """Tokens counted while embedding (`Usage.input_tokens`), and whether a text was over its limit."""

    tokens: dict[str, int] = field(default_factory=dict)
    truncated: bool = False

    def text(self, text: TextInput) -> str:
        """The text to embed, counted."""
        self.tokens["text"] = text.tokens
        self.truncated = text.truncated
        return text.text

    def add(self, kind: str, count: int) -> None:
        self.tokens[kind] = self.tokens.get(kind, 0) + count


def create_v2(platform: Platform, tenant_id: str, request: EmbedInput) -> Embeddings:
    """Synchronous embeddings (`POST /embed-v2`)."""
    model, dim, spec, tally = request.model, request.dimension, request.spec, _Tally()
    if isinstance(spec, TextInput):
        out = Embeddings([Piece(embed_texts(platform, [tally.text(spec)])[0], None, None)], dim)
    elif isinstance(spec, ImageInput):
        out = _image(platform, tenant_id, request.input_type, spec, dim, tally)
    elif isinstance(spec, MediaInput):
        out = _media(platform, tenant_id, model, spec, dim)
    else:
        out = _multi_input(platform, tenant_id, model, spec, dim, tally)
    if model == "marengo3.5":
        meta = out.metadata if out.metadata is not None else {"input_type": request.input_type,
                                                              "embedding_dimension": dim}
        out = replace(out, metadata=meta, usage=Usage(tally.tokens, tally.truncated))
    return out


def _image(platform: Platform, tenant_id: str, input_type: str, spec: ImageInput, dim: int,
           tally: _Tally) -> Embeddings:
    """An ``image`` or a ``text_image``: one vector, the mean of the image's and the text's."""
    check_source(platform, tenant_id, spec.source, input_type)
    vectors: list[FloatArray] = []
    if spec.text is not None:
        vectors.append(embed_texts(platform, [tally.text(settle(spec.text))])[0])
    with open_media(platform, tenant_id, spec.source, input_type, max_bytes=IMAGE_MAX_BYTES) as media:
        vectors.extend(embed_images(platform, [load_image(media.path)]))
        meta = {"input_type": input_type, "input_url": media.input_url, "input_filename": media.input_filename}
    vec = mean_vector(vectors)
    return Embeddings([Piece(vec if vec is not None else vectors[0], None, None)], dim, meta)


def _media(platform: Platform, tenant_id: str, model: str, spec: MediaInput, dim: int) -> Embeddings:
    """An ``audio`` or ``video`` input: a vector per clip, option and scope of its plan."""
    check_source(platform, tenant_id, spec.source, spec.kind)
    limit = platform.settings.max_url_download_bytes
    with open_media(platform, tenant_id, spec.source, spec.kind, max_bytes=limit,
                    base64_max=BASE64_MAX_BYTES[model]) as media:
        embed = embed_audio_file if spec.kind == "audio" else embed_video_file
        result = embed(platform, media.path, spec.plan, max_seconds=SYNC_MAX_SECONDS[model])
        meta = media_metadata(spec.kind, media, spec.plan, result, model, dim)
    return Embeddings(ordered_pieces(result.pieces), dim, meta)


def _multi_input(platform: Platform, tenant_id: str, model: str, spec: MultiInput, dim: int,
                 tally: _Tally) -> Embeddings:
    """Text with `<@name>` placeholders plus up to 10 media sources, fused into one vector."""
    vectors: list[FloatArray] = []
    if spec.tokens is not None:
        tally.tokens["text"] = spec.tokens
    if spec.plain:
        vectors.append(embed_texts(platform, [spec.plain])[0])
    for checked in spec.sources:
        source = settle(checked)
        if source.document is not None:  # PDF, text, Markdown: services/documents.py
            vector, words = documents.multi_input_vector(platform, tenant_id, source.document)
            vectors.append(vector)
            tally.add("document", words)
            continue
        assert source.image is not None
        check_source(platform, tenant_id, source.image, source.name)
        with open_media(platform, tenant_id, source.image, source.name, max_bytes=IMAGE_MAX_BYTES) as media:
            vectors.extend(embed_images(platform, [load_image(media.path)]))
        tally.add("image", 1)
    vec = mean_vector(vectors)
    if vec is None:
        vec = np.zeros(WIRE_DIM, dtype=np.float32)
    meta: dict[str, Any] = {"input_type": "multi_input"}
    if model == "marengo3.5":
        meta["embedding_dimension"] = dim
    return Embeddings([Piece(vec, None, None)], dim, meta)


# --- POST /embed (v1) ---------------------------------------------------------------------------


def v1_model(raw: Any) -> str:
    """The v1 `model_name`, checked (also for v1 tasks)."""
    if not isinstance(raw, str) or not raw.strip():
        raise MissingParameter("model_name")
    name = raw.strip()
    if not name.lower().startswith(("marengo", "marengo-retrieval")):
        raise InvalidParameter("model_name", "Use marengo3.0.", code="model_not_supported")
    return name


def create_v1(platform: Platform, tenant_id: str, *, model_name: Any, text: str | None,
              image_bytes: bytes | None, image_filename: str | None, image_url: str | None,
              audio_bytes: bytes | None, audio_filename: str | None, audio_url: str | None,
              audio_start_offset_sec: float | None) -> LegacyEmbeddings:
    """Any of text, image and audio in one call (the router shapes the API's `EmbeddingResponse`)."""
    model = v1_model(model_name)
    if not text and image_bytes is None and not image_url and audio_bytes is None and not audio_url:
        raise MissingParameter("text")
    out = LegacyEmbeddings(model)
    if text is not None and text != "":
        clean = TextInput.check("marengo3.0", text, "text", False).text
        out = replace(out, text=embed_texts(platform, [clean])[0])
    if image_bytes is not None or image_url:
        if image_bytes is not None:
            image = load_image(image_bytes)
            meta = {"input_filename": image_filename}
        else:
            src = MediaSource(url=image_url)
            check_source(platform, tenant_id, src, "image_url")
            with open_media(platform, tenant_id, src, "image_url", max_bytes=IMAGE_MAX_BYTES) as media:
                image = load_image(media.path)
            meta = {"input_url": image_url}
        out = replace(out, image=embed_images(platform, [image])[0], image_source=meta)
    if audio_bytes is not None or audio_url:
        plan = MediaPlan(["audio", "transcription"], ["clip"], ["fused_embedding"],
                         start=audio_start_offset_sec, strategy="fixed", seconds=V1_AUDIO_SEGMENT_SECONDS)
        with contextlib.ExitStack() as stack:
            if audio_bytes is not None:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="framedex-embed-"))) / "audio"
                tmp.write_bytes(audio_bytes)
                path, meta = tmp, {"input_filename": audio_filename}
            else:
                src = MediaSource(url=audio_url)
                check_source(platform, tenant_id, src, "audio_url")
                media = stack.enter_context(open_media(platform, tenant_id, src, "audio_url",
                                                       max_bytes=platform.settings.max_url_download_bytes))
                path, meta = media.path, {"input_url": audio_url}
            result = embed_audio_file(platform, path, plan, max_seconds=SYNC_MAX_SECONDS["marengo3.0"])
        out = replace(out, audio=sorted(result.pieces, key=lambda p: p.start or 0.0), audio_source=meta)
    return out
