"""Small protocols between the ingest pipeline / services and the model backends.

Every capability has one protocol here and one or more backends in sibling modules.
Inputs are plain numpy arrays so that callers never depend on a backend's runtime:
audio is mono float32 at 16 kHz in [-1, 1]; images are RGB uint8 arrays of shape (H, W, 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
ImageArray = npt.NDArray[np.uint8]

AUDIO_SAMPLE_RATE = 16_000


# --- speech -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class SpeechSegment:
    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)


@dataclass(frozen=True)
class Transcript:
    language: str | None
    language_probability: float
    segments: list[SpeechSegment]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


@runtime_checkable
class SpeechRecognizer(Protocol):
    name: str

    def transcribe(self, audio: FloatArray, language: str | None = None) -> Transcript:
        """Transcribe 16 kHz mono audio; times are seconds from the start of `audio`."""
        ...


# --- text ---------------------------------------------------------------------------------------


@runtime_checkable
class TextEmbedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> FloatArray:
        """Return an (n, dim) float32 array of L2-normalised embeddings."""
        ...


# --- vision -------------------------------------------------------------------------------------

Box = tuple[float, float, float, float]
"""(x1, y1, x2, y2) relative to the image size, each in [0, 1]."""


@dataclass(frozen=True)
class Label:
    name: str
    score: float


@dataclass(frozen=True)
class Detection:
    label: str
    score: float
    box: Box


@dataclass(frozen=True)
class FrameTags:
    """What a closed-vocabulary tagger sees in one image."""

    labels: list[Label]  # classifier top-k, plain-English names, probabilities
    detections: list[Detection]  # object detections above the detector threshold
    counts: dict[str, int]  # detections per label, e.g. {"person": 3, "car": 2}
    attributes: list[str]  # cheap image attributes: "black and white", "night", "crowd", ...
    feature: FloatArray  # L2-normalised pooled CNN feature, for image-to-image search


@dataclass(frozen=True)
class FrameAnalysis:
    tags: FrameTags
    embedding: FloatArray  # L2-normalised, in the vision encoder's joint image-text space
    terms: list[Label]  # weighted words behind the embedding (for lexical indexing and explanations)


@runtime_checkable
class ImageTagger(Protocol):
    name: str
    feature_dim: int

    def tag(self, images: list[ImageArray]) -> list[FrameTags]: ...


@runtime_checkable
class VisionEncoder(Protocol):
    """Images and texts into one space: ``embed_text(q) @ embed_images(frames).T`` ranks frames."""

    name: str
    dim: int

    def embed_images(self, images: list[ImageArray]) -> FloatArray:
        """(n, dim) float32, L2-normalised."""
        ...

    def embed_text(self, texts: list[str]) -> FloatArray:
        """(n, dim) float32, L2-normalised, comparable with ``embed_images``."""
        ...


@runtime_checkable
class FrameAnalyzer(Protocol):
    """Tags plus a joint-space embedding per frame (what ingest stores for visual search)."""

    name: str
    dim: int

    def analyze(self, images: list[ImageArray]) -> list[FrameAnalysis]: ...


# --- text in images -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TextBox:
    text: str
    score: float
    box: Box


@runtime_checkable
class TextReader(Protocol):
    name: str

    def has_text(self, image: ImageArray) -> bool:
        """Cheap pre-check: False means `read` would almost surely find nothing."""
        ...

    def read(self, image: ImageArray) -> list[TextBox]: ...


# --- sound events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AudioEvents:
    labels: list[str]  # the class names, index-aligned with `scores` columns
    times: FloatArray  # (n,) start time of each analysis window, seconds
    window_seconds: float
    scores: FloatArray  # (n, n_classes) per-window scores in [0, 1]
    top: list[Label]  # clip-level top events (mean over windows)
    embedding: FloatArray  # L2-normalised joint-space (text) embedding of the clip's sounds; zeros if silent
    terms: list[Label]  # weighted sound words behind the embedding


@runtime_checkable
class AudioTagger(Protocol):
    name: str
    dim: int

    def tag(self, audio: FloatArray) -> AudioEvents:
        """Sound events of 16 kHz mono audio."""
        ...


# --- faces --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    box: Box
    score: float
    embedding: FloatArray  # L2-normalised identity vector; cosine >= ~0.4 means the same person
    landmarks: list[tuple[float, float]] = field(default_factory=list)  # relative (x, y)


@runtime_checkable
class FaceEncoder(Protocol):
    name: str
    dim: int
    match_threshold: float

    def faces(self, image: ImageArray) -> list[Face]: ...


# --- generation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str


@runtime_checkable
class TextGenerator(Protocol):
    name: str

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, object] | None = None,
    ) -> str:
        """The assistant reply; with ``json_schema`` the reply is JSON valid against it."""
        ...
