"""One sequential pass over a video: shot cuts and frames sampled at a fixed rate.

Every decoded frame is shrunk to a tiny grey image for cut detection (cheap); only the
sampled frames are converted to full RGB arrays. Sampled frames go to a callback, so memory
stays flat whatever the video's length.

Times are seconds from the stream's start (a capture whose timestamps start at 3600 s has its
first frame at 0), and the pass runs under a `DecodeBudget`: it stops with `MediaLimitExceeded`
when the stream runs past the budget's duration or frame count, a frame is bigger than allowed,
a timestamp is absurd, or the deadline passes. The next sample time is computed, not stepped to,
so a leap in the timestamps costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from framedex.ingest.decode import SampledFrame, _target_size
from framedex.ingest.limits import DecodeBudget

_TINY = (64, 36)
# Between two consecutive frames (1/25 s apart) motion rarely changes this share of the picture by this much.
CUT_PIXEL_CHANGE = 0.25
CUT_CHANGED_SHARE = 0.12
# A picture that has not moved for STILL_SECONDS (slides, clip art, a paused screen: consecutive frames differ by
# under STILL_RATIO and STILL_CHANGED_SHARE) and then changes by AFTER_STILL_RATIO or AFTER_STILL_CHANGED_SHARE is
# cut too: one slide of the same template replacing another, or a small drawing on a white card, changes the
# tiny grey frame far less than a camera cut does, but nothing else moves.
STILL_RATIO = 0.02
STILL_CHANGED_SHARE = 0.002
STILL_SECONDS = 0.5
AFTER_STILL_RATIO = 0.15
AFTER_STILL_CHANGED_SHARE = 0.04


@dataclass
class ScanResult:
    cuts: list[float] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)
    duration: float = 0.0


def scan_video(path: Path, on_frame: Callable[[SampledFrame], None], *, sample_fps: float = 1.0,
               max_side: int = 640, threads: int = 2, cut_threshold: float = 0.35,
               min_shot_seconds: float = 0.6, budget: DecodeBudget | None = None) -> ScanResult:
    """Decode `path` once; call `on_frame` for one frame every 1/sample_fps seconds (the first at 0).

    A cut is declared where consecutive tiny frames differ by more than `cut_threshold`
    (mean absolute difference of normalised grey levels, scaled by the frame's contrast) and
    the previous cut is at least `min_shot_seconds` away, or where at once a large part of the frame
    (`CUT_CHANGED_SHARE`) changes strongly, or where a picture that stood still changes (`STILL_SECONDS`): one
    drawing replacing another on the same white card, a slide replacing a slide, barely move the mean over the
    whole frame. Without a `budget`, one comes from the file's header (capped at the longest media the API
    takes).
    """
    result = ScanResult()
    interval = 1.0 / sample_fps
    next_sample = 0.0
    previous: np.ndarray | None = None
    previous_time = 0.0
    last_cut = 0.0
    moved_at = 0.0  # time of the last frame that differed from its predecessor by more than a still picture does
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = threads
        meter = (budget or DecodeBudget.for_container(container)).meter("video")
        meter.set_origin(stream)
        for frame in container.decode(stream):
            t = meter.time_of(frame)
            if t is None:
                continue
            meter.check_pixels(frame.width, frame.height)
            result.duration = max(result.duration, t)
            tiny = frame.to_ndarray(format="gray", width=_TINY[0], height=_TINY[1]).astype(np.float32) / 255.0
            if previous is not None:
                delta = np.abs(tiny - previous)
                diff = float(delta.mean())
                contrast = float(max(tiny.std(), previous.std(), 0.05))
                changed = float((delta > CUT_PIXEL_CHANGE).mean())
                ratio = diff / contrast
                is_cut = ratio > cut_threshold or changed >= CUT_CHANGED_SHARE
                if not is_cut and previous_time - moved_at >= STILL_SECONDS:
                    is_cut = ratio >= AFTER_STILL_RATIO or changed >= AFTER_STILL_CHANGED_SHARE
                if ratio >= STILL_RATIO or changed >= STILL_CHANGED_SHARE:
                    moved_at = t
                if is_cut and t - last_cut >= min_shot_seconds:
                    result.cuts.append(round(t, 3))
                    last_cut = t
            previous, previous_time = tiny, t
            if t + 1e-3 >= next_sample:
                w, h = _target_size(frame.width, frame.height, max_side)
                image = frame.to_ndarray(format="rgb24", width=w, height=h)
                on_frame(SampledFrame(round(t, 3), image))  # type: ignore[arg-type]
                result.frame_times.append(round(t, 3))
                # the first sample time after t, computed: a leap in the timestamps costs no loop
                next_sample = (math.floor((t + 1e-3) / interval) + 1) * interval
    return result
