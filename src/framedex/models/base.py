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
