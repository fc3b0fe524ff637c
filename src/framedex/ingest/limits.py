"""Decode budgets: media is bounded by what it really is, not by what its header says.

A file controls its own header (duration, size) and every timestamp in it. A 10 s header can sit
over hours of audio, and a first frame can be stamped at 10¹² s. So every pass that decodes media
(the ingest scan and audio decode, frame sampling for entities and embeddings, the audio of
`/embed`) runs under one `DecodeBudget`, enforced frame by frame by a `DecodeMeter`:

- media time, measured from each stream's first timestamp, may not run past
  min(declared duration, the API's limit) + slack;
- the number of decoded video frames, the pixels of any one frame and the decoded audio samples
  are capped, so memory stays bounded whatever the stream holds;
- timestamps must be finite and plausible (no first frame at 10¹² s);
- one pass has a wall-clock deadline, so nothing pins a worker or an API thread forever.

Past a limit decoding stops with `MediaLimitExceeded`, which carries the real API's error code and a
message that says which limit was hit. It is a `MediaRejected` (ingest marks the video failed with
that reason), a `ServiceError` (a sync endpoint answers 400 in the `{"code","message"}` envelope)
and a `PermanentJobError` (a job is not retried: the file will never fit).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from framedex.domain_errors import PermanentJobError, ServiceError

# No real recording starts this late: MPEG-TS clocks wrap at 2^33/90 kHz (26.5 h) and wall-clock
# stamped captures (seconds since 1970) are around 1.7e9 s. Beyond this a timestamp is crafted.
MAX_START_SECONDS = 1e10
# The longest media any endpoint of the real API takes (embedding tasks: 4 h). Decodes that are not
# given a tighter budget stop there.
DEFAULT_MAX_SECONDS = 4 * 3600.0
# Decoded frames per second of media that a budget allows (high-speed footage stays under it).
MAX_FPS = 240.0
# The largest frame the real API accepts (8K UHD); a stream that switches to bigger frames mid-way is
# refused before they are converted.
DEFAULT_MAX_PIXELS = 7680 * 4320
# One decoding pass gets this much wall-clock time, plus WALL_SECONDS_PER_MEDIA_SECOND per second of
# allowed media time (4x slower than real time: far beyond any codec on a small CPU).
BASE_WALL_SECONDS = 120.0
WALL_SECONDS_PER_MEDIA_SECOND = 4.0


class MediaRejected(Exception):
    """The media can never be indexed; `code` is the real API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MediaLimitExceeded(MediaRejected, ServiceError, PermanentJobError):
    """Decoding stopped at a limit (duration, frames, samples, pixels, timestamps, time)."""

    status = 400

    def __init__(self, code: str, message: str) -> None:
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.status = 400


def slack_seconds(seconds: float) -> float:
    """How far a stream may run past its declared duration (container rounding, priming, last frame)."""
    return max(10.0, 0.05 * seconds)


def plausible_time(t: float, what: str = "The first frame") -> None:
    """Refuse timestamps no real recording has (non-finite, or beyond MAX_START_SECONDS)."""
    if not math.isfinite(t) or abs(t) > MAX_START_SECONDS:
        raise MediaLimitExceeded(
            "video_file_broken",
            f"{what} is stamped at {t:.4g}s; timestamps that far out are not plausible, so the file's "
            "timing cannot be trusted.")


@dataclass(frozen=True)
class DecodeBudget:
    """What one decoding pass may consume. Build it with `for_duration`."""

    max_seconds: float  # media time past a stream's first timestamp
    max_frames: int  # decoded video frames
    max_pixels: int  # of any one decoded video frame
    wall_seconds: float  # one decoding pass
    declared_seconds: float  # the (probed) duration the budget was derived from
    limit_seconds: float  # the API's limit that applies
    media: str = "video"  # "video" or "audio": picks the error codes

    @classmethod
    def for_duration(cls, declared: float | None, *, limit: float = DEFAULT_MAX_SECONDS,
                     media: str = "video", max_pixels: int = DEFAULT_MAX_PIXELS,
                     wall_seconds: float | None = None) -> DecodeBudget:
        """min(declared, limit) + slack of media time; an unknown or absurd declared duration counts
        as the limit."""
        limit = float(limit)
        seconds = float(declared) if declared is not None and math.isfinite(declared) and declared > 0 else 0.0
        base = min(seconds, limit) if seconds else limit
        max_seconds = base + slack_seconds(base)
        if wall_seconds is None:
            wall_seconds = BASE_WALL_SECONDS + WALL_SECONDS_PER_MEDIA_SECOND * max_seconds
        return cls(max_seconds=max_seconds, max_frames=int(max_seconds * MAX_FPS) + 1000,
                   max_pixels=int(max_pixels), wall_seconds=float(wall_seconds),
                   declared_seconds=seconds, limit_seconds=limit, media=media)

    @classmethod
    def for_container(cls, container: Any, *, limit: float = DEFAULT_MAX_SECONDS) -> DecodeBudget:
        """A budget from an open container's header, for callers that bring none."""
        declared = container.duration / 1_000_000 if container.duration is not None else None
        media = "video" if container.streams.video else "audio"
        return cls.for_duration(declared, limit=limit, media=media)

    def max_samples(self, sample_rate: int) -> int:
        return math.ceil(self.max_seconds * sample_rate)

    @property
    def too_long_code(self) -> str:
        return "video_duration_too_long" if self.media == "video" else "media_duration_too_long"

    @property
    def broken_code(self) -> str:
        return "video_file_broken" if self.media == "video" else "audio_file_broken"

    def overrun(self, kind: str, seconds: float) -> MediaLimitExceeded:
        """The error for a `kind` stream found running past `max_seconds` (at `seconds`)."""
        if self.declared_seconds and self.declared_seconds + slack_seconds(self.declared_seconds) < self.limit_seconds:
            return MediaLimitExceeded(
                self.broken_code,
                f"The {kind} stream runs past {seconds:.0f}s although the file declares "
                f"{self.declared_seconds:.1f}s; its duration or timestamps are inconsistent.")
        return MediaLimitExceeded(
            self.too_long_code,
            f"The {kind} stream runs past {seconds:.0f}s; the maximum is {self.limit_seconds:g}s.")

    def meter(self, kind: str) -> DecodeMeter:
        """Start enforcing the budget on one `kind` ("video" or "audio") stream; the clock starts now."""
        return DecodeMeter(self, kind)


class DecodeMeter:
    """Enforces a `DecodeBudget` on one stream, frame by frame, and turns timestamps into stream time.

    `time_of(frame)` is the frame's time in seconds since the stream's first timestamp (its
    `start_time` when the container states one), so a non-zero start (MPEG-TS captures) still puts
    the first frame at 0. Frames a little before the origin count as 0.
    """

    def __init__(self, budget: DecodeBudget, kind: str) -> None:
        self.budget = budget
        self.kind = kind
        self.origin: float | None = None
        self.frames = 0
        self.samples = 0
        self.deadline = time.monotonic() + budget.wall_seconds

    def set_origin(self, stream: Any) -> None:
        """Use the stream's declared start time as the origin, when it has one."""
        if stream.start_time is not None and stream.time_base is not None:
            start = float(stream.start_time * stream.time_base)
            plausible_time(start, f"The {self.kind} stream's start")
            self.origin = start

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise MediaLimitExceeded(
                self.budget.broken_code,
                f"Decoding the {self.kind} stream took longer than {self.budget.wall_seconds:.0f}s; gave up.")

    def time_of(self, frame: Any) -> float | None:
        """Count one decoded frame and return its stream time, or None when it has no timestamp."""
        self.frames += 1
        if self.kind == "video" and self.frames > self.budget.max_frames:
            raise MediaLimitExceeded(
                self.budget.broken_code,
                f"The video stream holds more than {self.budget.max_frames} frames for "
                f"{self.budget.max_seconds:.0f}s of media; its timestamps are not plausible.")
        self.check_deadline()
        if frame.pts is None or frame.time_base is None:
            return None
        t = float(frame.pts * frame.time_base)
        if self.origin is None:
            plausible_time(t, f"The first {self.kind} frame")
            self.origin = t
        elif not math.isfinite(t) or abs(t) > MAX_START_SECONDS + self.budget.max_seconds:
            plausible_time(t, f"A {self.kind} frame")
        rel = t - self.origin
        if rel > self.budget.max_seconds:
            raise self.budget.overrun(self.kind, rel)
        return max(rel, 0.0)

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.budget.max_pixels:
            raise MediaLimitExceeded(
                "video_resolution_too_high",
                f"A frame of {width}x{height} exceeds the maximum of {self.budget.max_pixels} pixels.")
