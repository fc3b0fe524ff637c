"""Renditions made from a stored original: an HLS ladder rung for streaming and a representative thumbnail.

Pure media work on local files (ffmpeg through argument lists, PyAV, OpenCV); the state machine, the
blob store and the signed URLs live in `services.streaming`. Everything here is bounded: ffmpeg runs
under a wall-clock limit and a duration cap, at a lower CPU priority than indexing, and its output is
checked against a byte budget before anyone publishes it.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

log = logging.getLogger("framedex.ingest.renditions")

PLAYLIST_NAME = "index.m3u8"
SEGMENT_PATTERN = "seg_%05d.ts"
SEGMENT_SECONDS = 4
MAX_HEIGHT = 720
# Renditions never outlive these, whatever the upload: a stuck or hostile file cannot hold a worker.
MAX_RENDITION_SECONDS = 4 * 3600
THUMBNAIL_MAX_SIDE = 640
# A frame this dark (mean luma, 0-255) or this flat (luma standard deviation) is a fade or a slate.
BLACK_LUMA = 20.0
FLAT_STDDEV = 6.0
THUMBNAIL_CANDIDATES = 12


class RenditionError(Exception):
    """The media cannot be rendered (broken input, ffmpeg failure, a limit passed)."""


@dataclass(frozen=True)
class HlsOutput:
    directory: Path
    playlist: Path
    segments: list[Path]
    total_bytes: int


def _refuse_playlists(src: Path) -> None:
    """An uploaded playlist (HLS, ffconcat) names other files or URLs that ffmpeg would open: never
    let stored user bytes make the server read a path or host it chose."""
    with src.open("rb") as f:
        head = f.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"#EXTM3U", b"ffconcat", b"#EXT-X")):
        raise RenditionError("Playlists cannot be re-streamed; upload the media file itself.")


def hls_command(src: Path, out_dir: Path, *, has_audio: bool, has_video: bool = True,
                segment_seconds: int = SEGMENT_SECONDS, max_height: int = MAX_HEIGHT,
                max_seconds: int = MAX_RENDITION_SECONDS, threads: int = 2) -> list[str]:
    """The ffmpeg argument list for one VOD rendition in MPEG-TS segments: H.264 (+AAC), or AAC alone for
    an audio-only file (an audio-only rendition, as HLS allows: players and ffprobe read it as is)."""
    if not has_video and not has_audio:
        raise RenditionError("The media has neither audio nor video to stream.")
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        # Only local files: a container that references other resources cannot reach the network.
        "-protocol_whitelist", "file",
        "-i", str(src), "-t", str(max_seconds),
    ]
    if has_video:
        cmd += ["-map", "0:v:0"]
    if has_audio:
        cmd += ["-map", "0:a:0"]
    if has_video:
        cmd += [
            "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-profile:v", "main", "-pix_fmt", "yuv420p",
            # Never upscale; even dimensions are required by 4:2:0 H.264.
            "-vf", f"scale=-2:'trunc(min({max_height},ih)/2)*2'",
            # A keyframe at every segment boundary, so segments start decodable and have near-equal length.
            "-force_key_frames", f"expr:gte(t,n_forced*{segment_seconds})", "-sc_threshold", "0",
        ]
    else:
        cmd += ["-vn", "-sn", "-dn"]  # cover art is an attached picture "video" stream: not for the stream
    cmd += ["-threads", str(threads)]
    if has_audio:
        cmd += ["-c:a", "aac", "-b:a", "128k", "-ac", "2"]
    cmd += [
        "-f", "hls", "-hls_time", str(segment_seconds), "-hls_playlist_type", "vod",
        "-hls_list_size", "0", "-hls_segment_type", "mpegts",
        "-hls_segment_filename", str(out_dir / SEGMENT_PATTERN),
        str(out_dir / PLAYLIST_NAME),
    ]
    return cmd


def make_hls(src: Path, out_dir: Path, *, has_audio: bool, timeout_seconds: float, max_bytes: int,
             segment_seconds: int = SEGMENT_SECONDS, has_video: bool = True) -> HlsOutput:
    """Transcode `src` into `out_dir` (created) as an HLS VOD playlist with MPEG-TS segments."""
    _refuse_playlists(src)
    if shutil.which("ffmpeg") is None:
        raise RenditionError("ffmpeg is not installed on this worker.")
    cmd = hls_command(src, out_dir, has_audio=has_audio, has_video=has_video, segment_seconds=segment_seconds)
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with contextlib.suppress(OSError):  # an already-finished ffmpeg has no priority to lower
        # Indexing makes a video `ready`; streaming is a convenience, so it yields the CPU to indexing.
        os.setpriority(os.PRIO_PROCESS, proc.pid, 10)
    try:
        _, err = proc.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RenditionError(f"Streaming rendition took longer than {timeout_seconds:.0f} s.") from None
    if proc.returncode != 0:
        # ffmpeg's own words name the server's paths: they go to the log, the client gets the outcome.
        log.info("ffmpeg failed on %s (exit %d): %s", src, proc.returncode,
                 err.decode("utf-8", "replace").strip()[-2000:])
        raise RenditionError("The media could not be decoded into a stream.")
    playlist = out_dir / PLAYLIST_NAME
    segments = sorted(out_dir.glob("seg_*.ts"))
    if not playlist.exists() or not segments:
        raise RenditionError("ffmpeg produced no stream.")
    total = sum(p.stat().st_size for p in out_dir.iterdir())
    if total > max_bytes:
        raise RenditionError(f"The streaming rendition ({total} bytes) exceeds the limit of {max_bytes} bytes.")
    return HlsOutput(out_dir, playlist, segments, total)


@dataclass(frozen=True)
class Candidate:
    time: float
    sharpness: float
    luma: float
    contrast: float
    image: np.ndarray  # RGB

    @property
    def usable(self) -> bool:
        return self.luma >= BLACK_LUMA and self.contrast >= FLAT_STDDEV

    def score(self, duration: float) -> float:
        """Sharpness, nudged towards the middle of the video (openings are often titles or fades)."""
        centre = 1.0 - (abs(self.time / duration - 0.5) if duration > 0 else 0.0)
        return self.sharpness * (0.6 + 0.4 * centre)


def _measure(image: np.ndarray, t: float) -> Candidate:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (320, max(1, round(320 * grey.shape[0] / max(1, grey.shape[1])))))
    sharpness = float(cv2.Laplacian(small, cv2.CV_64F).var())
    return Candidate(t, sharpness, float(small.mean()), float(small.std()), image)


def _candidate_times(duration: float, count: int) -> list[float]:
    """The middles of `count` equal windows: one probe per stretch of the video."""
    if duration <= 0:
        return [0.0]
    return [duration * (i + 0.5) / count for i in range(count)]


def sample_candidates(src: Path, duration: float, count: int = THUMBNAIL_CANDIDATES) -> list[Candidate]:
    """Decode one frame at (or just after) each candidate time, seeking to the keyframe before it."""
    found: list[Candidate] = []
    try:
        container = av.open(str(src), metadata_errors="ignore")
    except (av.error.FFmpegError, ValueError) as exc:
        log.info("could not open %s for a thumbnail: %s", src, exc)  # the text names the server's path
        raise RenditionError("The media could not be opened.") from exc
    with container:
        if not container.streams.video:
            raise RenditionError("The media has no video track to take a thumbnail from.")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        base = stream.time_base
        for t in _candidate_times(duration, count):
            try:
                if base is not None:
                    container.seek(int(t / base), stream=stream, backward=True)
                for frame in container.decode(stream):
                    ft = float(frame.pts * base) if frame.pts is not None and base is not None else t
                    if ft + 1e-3 < t:
                        continue
                    found.append(_measure(frame.to_ndarray(format="rgb24"), ft))
                    break
            except (av.error.FFmpegError, ValueError):
                continue  # one bad spot does not spoil the others
    return found


def pick_representative(candidates: list[Candidate], duration: float) -> Candidate:
    if not candidates:
        raise RenditionError("No frame could be decoded for a thumbnail.")
    usable = [c for c in candidates if c.usable] or candidates
    return max(usable, key=lambda c: c.score(duration))


def jpeg(image: np.ndarray, max_side: int = THUMBNAIL_MAX_SIDE, quality: int = 85) -> bytes:
    picture = Image.fromarray(image)
    if max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def representative_thumbnail(src: Path, duration: float) -> tuple[bytes, float]:
    """The JPEG of the sharpest non-black, non-flat frame among evenly spread candidates, and its time."""
    best = pick_representative(sample_candidates(src, duration), duration)
    return jpeg(best.image), best.time
