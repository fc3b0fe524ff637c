"""Decode any audio (or the audio track of a video) to 16 kHz mono float32 with PyAV.

Decoding streams into one preallocated buffer with a hard sample cap: a file decides how much
audio it holds (a 10 s header can sit over hours of it), so the cap, not the header, bounds memory.
`framedex.ingest.decode.decode_audio` runs the same loop under the ingest decode budget.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np

from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray

# What `load_audio` decodes at most unless told otherwise: the longest media the real API takes (4 h).
DEFAULT_MAX_AUDIO_SECONDS = 4 * 3600.0
_MIN_BUFFER = 1 << 16
_TRIM_WASTE = 1 << 20  # samples: a buffer wasting more than this (4 MB) is copied down to size


class AudioTooLong(ValueError):
    """The audio runs past the sample cap; decoding stopped there."""

    def __init__(self, seconds: float, max_seconds: float) -> None:
        super().__init__(f"The audio runs past {seconds:.0f}s; at most {max_seconds:g}s are decoded.")
        self.seconds = seconds
        self.max_seconds = max_seconds


def decode_audio_stream(container: Any, stream: Any, *, sample_rate: int, max_samples: int,
                        expected_seconds: float | None = None,
                        on_frame: Callable[[Any], float | None] | None = None,
                        until: float | None = None) -> FloatArray:
    """Decode `stream` of an open `container` to mono float32 at `sample_rate`, at most `max_samples`.

    `on_frame` sees every decoded frame before it is resampled and returns its stream time (or None);
    it may raise to stop decoding. With `until`, decoding stops at the first frame at or after that
    stream time. Past `max_samples` raises `AudioTooLong`: memory is bounded by the cap, never by
    what the file says. `expected_seconds` only sizes the first buffer.
    """
    capacity = _MIN_BUFFER
    if expected_seconds is not None and math.isfinite(expected_seconds) and expected_seconds > 0:
        capacity = max(capacity, int(expected_seconds * sample_rate * 1.02) + sample_rate)
    buf = np.empty(max(0, min(capacity, max_samples)), dtype=np.float32)
    n = 0
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)

    def put(frames: list[Any]) -> None:
        nonlocal buf, n
        for out in frames:
            chunk = out.to_ndarray().reshape(-1)
            end = n + chunk.size
            if end > max_samples:
                raise AudioTooLong(end / sample_rate, max_samples / sample_rate)
            if end > buf.size:
                grown = np.empty(min(max_samples, max(end, 2 * buf.size)), dtype=np.float32)
                grown[:n] = buf[:n]
                buf = grown
            buf[n:end] = chunk
            n = end

    for frame in container.decode(stream):
        t = on_frame(frame) if on_frame is not None else None
        if until is not None and t is not None and t >= until:
            break
        put(resampler.resample(frame))
    put(resampler.resample(None))
    if buf.size - n > _TRIM_WASTE:
        return buf[:n].copy()
    return buf[:n]


def load_audio(source: str | Path | bytes, sample_rate: int = AUDIO_SAMPLE_RATE, *,
               max_seconds: float = DEFAULT_MAX_AUDIO_SECONDS) -> FloatArray:
    """Decode the first audio stream of ``source`` (a path or the file's bytes) to a mono float32
    array in [-1, 1] at ``sample_rate``. Returns an empty array when there is no audio stream.
    Raises `AudioTooLong` (a ValueError) past ``max_seconds`` of audio."""
    src: str | io.BytesIO = io.BytesIO(source) if isinstance(source, bytes) else str(source)
    with av.open(src, mode="r") as container:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32)
        stream = container.streams.audio[0]
        expected = container.duration / 1_000_000 if container.duration is not None else None
        audio = decode_audio_stream(container, stream, sample_rate=sample_rate,
                                    max_samples=math.ceil(max_seconds * sample_rate),
                                    expected_seconds=expected)
    return np.clip(audio, -1.0, 1.0, out=audio)
