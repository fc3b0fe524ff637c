"""Decode any audio (or the audio track of a video) to 16 kHz mono float32 with PyAV."""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray


def load_audio(source: str | Path | bytes, sample_rate: int = AUDIO_SAMPLE_RATE) -> FloatArray:
    """Decode the first audio stream of ``source`` (a path or the file's bytes) to a mono float32
    array in [-1, 1] at ``sample_rate``. Returns an empty array when there is no audio stream."""
    src: str | io.BytesIO = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    chunks: list[np.ndarray] = []
    with av.open(src, mode="r") as container:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    return np.clip(audio, -1.0, 1.0)
