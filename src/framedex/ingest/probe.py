"""Probe media with PyAV and validate it against the platform's limits.

The duration is what the streams really span, not only what the header says: `probe` walks the
packets of the first video and audio stream (demuxing, no decoding) and takes their extent when it
runs past the header, so a 10 s header over hours of audio is seen as hours long and refused like
any other long file. Absurd timestamps (a first frame at 10¹² s) are refused here too.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from framedex.config import Settings
from framedex.ingest.limits import (
    DEFAULT_MAX_SECONDS,
    DecodeBudget,
    MediaLimitExceeded,
    MediaRejected,
    plausible_time,
    slack_seconds,
)

log = logging.getLogger(__name__)

__all__ = ["MediaInfo", "MediaLimitExceeded", "MediaRejected", "decode_budget", "probe", "validate_video"]

# Walking the packets stops here; the header's duration stands for what was not walked.
PROBE_WALL_SECONDS = 30.0


@dataclass(frozen=True)
class MediaInfo:
    duration: float
    size: int
    format: str
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float = 0.0
    video_codec: str | None = None
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def probe(path: Path) -> MediaInfo:
    size = path.stat().st_size
    if size == 0:
        raise MediaRejected("video_file_broken", "The file is empty.")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        # FFmpeg's text names the blob's path on this server (review #18): it goes to the log, not the client.
        log.info("probe of %s failed: %s", path, exc)
        raise MediaRejected("video_file_broken", "The file is not a readable media file.") from exc
    with container:
        video = next((s for s in container.streams.video), None)
        audio = next((s for s in container.streams.audio), None)
        duration = 0.0
        if container.duration is not None:
            duration = container.duration / 1_000_000
        for stream in (video, audio):
            if stream is not None and stream.duration is not None and stream.time_base is not None:
                duration = max(duration, float(stream.duration * stream.time_base))
        if video is None and audio is None:
            raise MediaRejected("video_file_broken", "The file has no video or audio stream.")
        fps = 0.0
        if video is not None:
            rate = video.average_rate or video.base_rate or video.guessed_rate
            fps = float(rate) if rate else 0.0
        extent = _stream_extent(container, [s for s in (video, audio) if s is not None])
        if duration <= 0 or extent > duration + max(1.0, 0.01 * duration):
            duration = extent  # the header is missing or lies: the streams say how long the media is
        return MediaInfo(
            duration=round(duration, 3), size=size, format=container.format.name,
            has_video=video is not None, has_audio=audio is not None,
            width=int(video.codec_context.width or 0) if video is not None else 0,
            height=int(video.codec_context.height or 0) if video is not None else 0,
            fps=round(fps, 3),
            video_codec=video.codec_context.name if video is not None else None,
            audio_codec=audio.codec_context.name if audio is not None else None,
            audio_sample_rate=int(audio.codec_context.sample_rate or 0) if audio is not None else None,
            audio_channels=int(audio.codec_context.channels or 0) if audio is not None else None,
        )


def _stream_extent(container: av.container.InputContainer, streams: list[Any]) -> float:
    """How many seconds the streams span, from each one's first packet timestamp to its last.

    Packets are only demuxed, not decoded (about a microsecond each). The walk stops once a stream
    runs past the longest media the API takes (it will be refused anyway) or after
    PROBE_WALL_SECONDS (huge files: the header stands for the rest, and decoding is budgeted).
    """
    if not streams:
        return 0.0
    stop_at = DEFAULT_MAX_SECONDS + slack_seconds(DEFAULT_MAX_SECONDS)
    deadline = time.monotonic() + PROBE_WALL_SECONDS
    time_base = {s.index: float(s.time_base) for s in streams if s.time_base is not None}
    first: dict[int, float] = {}
    extent = 0.0
    packets = container.demux(streams)
    n = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except (av.error.FFmpegError, ValueError):  # damage further in: decoding copes with it as before
            break
        n += 1
        if n % 4096 == 0 and time.monotonic() > deadline:
            break
        stamp = packet.pts
        if stamp is None:
            stamp = packet.dts
            if stamp is None:
                continue
        index = packet.stream_index
        tb = time_base.get(index)
        if tb is None:
            continue
        t = stamp * tb
        if index not in first:
            plausible_time(t, f"The first {packet.stream.type} packet")
            first[index] = t
        end = t - first[index]
        if end > extent:
            extent = end
            if extent > stop_at:
                break
    return extent


def decode_budget(info: MediaInfo, settings: Settings) -> DecodeBudget:
    """The budget for decoding a validated video: its probed duration (at most the API's maximum)
    plus slack, frames no bigger than the API's largest."""
    return DecodeBudget.for_duration(info.duration, limit=settings.max_video_seconds, media="video",
                                     max_pixels=settings.max_video_width * settings.max_video_height)


def validate_video(info: MediaInfo, settings: Settings) -> None:
    """Refuse what the real platform refuses, with its error codes."""
    if not info.has_video:
        raise MediaRejected("video_file_broken", "The file has no video stream.")
    if info.width <= 0 or info.height <= 0:
        raise MediaRejected("video_file_broken", "The video stream has no frame size.")
    if info.duration < settings.min_video_seconds:
        raise MediaRejected(
            "video_duration_too_short",
            f"The video is {info.duration:.1f}s long; the minimum is {settings.min_video_seconds:g}s.",
        )
    if info.duration > settings.max_video_seconds:
        raise MediaRejected(
            "video_duration_too_long",
            f"The video is {info.duration:.0f}s long; the maximum is {settings.max_video_seconds:g}s.",
        )
    if min(info.width, info.height) < settings.min_video_side:
        raise MediaRejected(
            "video_resolution_too_low",
            f"The resolution {info.width}x{info.height} is below the minimum side of {settings.min_video_side}px.",
        )
    if info.width > settings.max_video_width or info.height > settings.max_video_height:
        raise MediaRejected(
            "video_resolution_too_high",
            f"The resolution {info.width}x{info.height} exceeds "
            f"{settings.max_video_width}x{settings.max_video_height}.",
        )
