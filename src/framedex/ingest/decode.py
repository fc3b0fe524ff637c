"""Sequential decoding with PyAV: sampled video frames and 16 kHz mono audio.

Frames are decoded in one forward pass (seeking per sample is slower on long-GOP files)
and only the sampled ones are converted to arrays, which is where the time goes.

Every pass runs under a `DecodeBudget` (see `framedex.ingest.limits`): times are measured from the
stream's start, and decoding stops with `MediaLimitExceeded` past the budget's duration, frames,
pixels, samples or deadline. Callers that bring no budget get one from the file's header, capped
at the longest media the API takes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from framedex.ingest.limits import DecodeBudget
from framedex.models.audio_io import AudioTooLong, decode_audio_stream
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, ImageArray


@dataclass(frozen=True)
class SampledFrame:
    time: float
    image: ImageArray  # RGB, at most `max_side` pixels on its longer side


def _target_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    # even sizes keep swscale happy
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def sample_frames(path: Path, times: Sequence[float], *, max_side: int = 640,
                  threads: int = 2, budget: DecodeBudget | None = None) -> Iterator[SampledFrame]:
    """Yield one frame for each requested time (sorted, seconds from the video's start), the first
    frame at or after it.

    Requests past the last frame get the last frame, so every request is answered.
    """
    wanted = sorted(times)
    if not wanted:
        return
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        meter = (budget or DecodeBudget.for_container(container)).meter("video")
        meter.set_origin(stream)
        i = 0
        last = None
        last_time = 0.0
        for frame in container.decode(stream):
            t = meter.time_of(frame)
            if t is None:
                continue
            meter.check_pixels(frame.width, frame.height)
            last, last_time = frame, t
            if t + 1e-3 < wanted[i]:
                continue
            w, h = _target_size(frame.width, frame.height, max_side)
            image: ImageArray = frame.to_ndarray(format="rgb24", width=w, height=h)  # type: ignore[assignment]
            while i < len(wanted) and wanted[i] <= t + 1e-3:
                yield SampledFrame(wanted[i], image)
                i += 1
            if i >= len(wanted):
                return
        if last is not None and i < len(wanted):
            w, h = _target_size(last.width, last.height, max_side)
            image = last.to_ndarray(format="rgb24", width=w, height=h)  # type: ignore[assignment]
            for t in wanted[i:]:
                yield SampledFrame(min(t, last_time), image)


def decode_audio(path: Path, *, sample_rate: int = AUDIO_SAMPLE_RATE, budget: DecodeBudget | None = None,
                 until: float | None = None) -> FloatArray:
    """The first audio stream as mono float32 at `sample_rate`; empty if there is none.

    Sample i is at i / sample_rate seconds from the stream's start. Decoding streams into one buffer
    capped by the budget (by default: the header's duration, at most the API's longest, plus slack);
    past it, `MediaLimitExceeded`. With `until`, decoding stops at that stream time (callers that
    want a window of a long file pay only for the window).
    """
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return np.zeros(0, dtype=np.float32)
        stream = container.streams.audio[0]
        budget = budget or DecodeBudget.for_container(container)
        meter = budget.meter("audio")
        meter.set_origin(stream)
        try:
            return decode_audio_stream(container, stream, sample_rate=sample_rate,
                                       max_samples=budget.max_samples(sample_rate),
                                       expected_seconds=budget.declared_seconds or None,
                                       on_frame=meter.time_of, until=until)
        except AudioTooLong as exc:
            raise budget.overrun("audio", exc.seconds) from exc
