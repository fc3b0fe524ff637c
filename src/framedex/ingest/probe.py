"""Probe media with PyAV and validate it against the platform's limits."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import av

from framedex.config import Settings


class MediaRejected(Exception):
    """The media can never be indexed; `code` is the real API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


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
        raise MediaRejected("video_file_broken", f"The file is not a readable media file ({exc}).") from exc
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
        if duration <= 0 and video is not None:
            duration = _decode_duration(container)
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


def _decode_duration(container: av.container.InputContainer) -> float:
    """Containers without a duration header (raw streams, some AVIs): walk the packets."""
    last = 0.0
    for packet in container.demux(video=0):
        if packet.pts is not None and packet.time_base is not None:
            last = max(last, float(packet.pts * packet.time_base))
    return last


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
