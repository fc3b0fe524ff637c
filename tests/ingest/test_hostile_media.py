"""Hostile media is bounded by what it really is, not by its header (review findings 1, 2, 16).

The files are built here, small, the way the review's reproducers build them: a 10 s Matroska header
over a first frame at 10¹² s, over a timestamp leap of hours, or over many minutes of audio.
"""

from __future__ import annotations

import fractions
import pathlib
import struct
import subprocess
import time
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

from framedex.config import Settings
from framedex.domain_errors import ServiceError
from framedex.ingest.decode import decode_audio, sample_frames
from framedex.ingest.limits import DecodeBudget, MediaLimitExceeded, MediaRejected
from framedex.ingest.probe import decode_budget, probe, validate_video
from framedex.ingest.scan import scan_video
from framedex.models.audio_io import AudioTooLong, load_audio
from framedex.models.base import AUDIO_SAMPLE_RATE
from framedex.services.media import MAX_IMAGE_PIXELS, check_image, decode_image

SHARED_VIDEO = Path(__file__).resolve().parents[3] / "shared" / "media" / "video"


# --- building hostile files -------------------------------------------------------------------


def patch_duration(path: Path, seconds: float) -> None:
    data = bytearray(pathlib.Path(path).read_bytes())
    i = data.find(b"\x44\x89\x88")  # Matroska Segment/Info/Duration (8-byte float, ms)
    assert i >= 0, "no Duration element"
    data[i + 3:i + 11] = struct.pack(">d", seconds * 1000.0)
    path.write_bytes(data)


def _video_stream(out: av.container.OutputContainer) -> av.VideoStream:
    v = out.add_stream("mpeg4", rate=1)
    v.width = v.height = 128
    v.pix_fmt = "yuv420p"
    return v


def write_frames(out: av.container.OutputContainer, v: av.VideoStream, stamps_ms: list[int]) -> None:
    """One frame per stamp, muxed at that time (ms): the file decides its own timestamps."""
    packets = []
    for i in range(len(stamps_ms)):
        frame = av.VideoFrame.from_ndarray(np.full((128, 128, 3), 20 * i, np.uint8), format="rgb24")
        packets += v.encode(frame)
    packets += v.encode(None)
    for i, (p, stamp) in enumerate(zip(packets, stamps_ms, strict=True)):
        p.pts, p.dts = stamp, min(stamp, i)  # the muxer wants rising dts; pts is what the file says
        p.time_base = fractions.Fraction(1, 1000)
        out.mux(p)


def video_with_stamps(path: Path, stamps_ms: list[int], header_seconds: float = 10.0) -> Path:
    with av.open(str(path), "w", format="matroska") as out:
        write_frames(out, _video_stream(out), stamps_ms)
    patch_duration(path, header_seconds)
    return path


def lying_audio(path: Path, seconds: int, *, with_video: bool, header_seconds: float = 10.0) -> Path:
    """`seconds` of silent 8 kHz FLAC (optionally beside 10 one-second frames) behind a 10 s header."""
    with av.open(str(path), "w", format="matroska") as out:
        v = _video_stream(out) if with_video else None
        a = out.add_stream("flac", rate=8000)
        a.layout = "mono"
        if v is not None:
            write_frames(out, v, [i * 1000 for i in range(10)])
        block = np.zeros((1, 8000 * 8), np.int16)
        for k in range(seconds // 8):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate, frame.pts = 8000, k * 8000 * 8
            for p in a.encode(frame):
                out.mux(p)
        for p in a.encode(None):
            out.mux(p)
    patch_duration(path, header_seconds)
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    files = {
        "bigpts": video_with_stamps(root / "bigpts.mkv", [10**15 + i * 1000 for i in range(5)]),
        "leap": video_with_stamps(root / "leap.mkv", [0, 1000, 2000, 3 * 3600 * 1000, 3 * 3600 * 1000 + 1000]),
        "backwards": video_with_stamps(root / "backwards.mkv", [0, 1000, 2000, 500, 3000, 4000, 5000, 6000]),
        "lying_video": lying_audio(root / "lying.mkv", 600, with_video=True),
        "lying_audio": lying_audio(root / "lying_audio.mkv", 600, with_video=False),
    }
    offset = root / "offset.ts"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(SHARED_VIDEO / "ball_throw_10s.mp4"),
                    "-c", "copy", "-output_ts_offset", "3600", "-f", "mpegts", str(offset)], check=True)
    files["offset"] = offset
    return files


def settings(tmp_path: Path, **kw: float) -> Settings:
    return Settings(data_dir=tmp_path, **kw)  # type: ignore[arg-type]


# --- 1: absurd timestamps fail fast with a reason ---------------------------------------------------------


def test_first_frame_at_1e12_seconds_fails_fast_everywhere(hostile: dict[str, Path]) -> None:
    path = hostile["bigpts"]
    started = time.monotonic()
    with pytest.raises(MediaRejected) as probed:
        probe(path)
    assert probed.value.code == "video_file_broken" and "1e+12" in probed.value.message
    for decode in (lambda: scan_video(path, lambda f: None), lambda: list(sample_frames(path, [0.0, 5.0]))):
        with pytest.raises(MediaLimitExceeded) as caught:
            decode()
        assert caught.value.code == "video_file_broken" and "not plausible" in caught.value.message
    assert time.monotonic() - started < 2.0  # the review's loop ran ~10^12 times


def test_a_leap_of_hours_mid_stream_stops_decoding_at_the_budget(hostile: dict[str, Path], tmp_path: Path) -> None:
    path = hostile["leap"]
    info = probe(path)  # the packets span 3 h: the header's 10 s is not believed
    assert info.duration >= 3 * 3600
    with pytest.raises(MediaRejected) as rejected:
        validate_video(info, settings(tmp_path, max_video_seconds=3600))
    assert rejected.value.code == "video_duration_too_long"
    # Decoding under a budget from the header (what sync callers without a probe get) stops at the leap.
    started = time.monotonic()
    with pytest.raises(MediaLimitExceeded) as caught:
        scan_video(path, lambda f: None, budget=DecodeBudget.for_duration(10.0, limit=7200))
    assert caught.value.code == "video_file_broken" and "declares 10.0s" in caught.value.message
    assert time.monotonic() - started < 2.0


def test_non_monotonic_timestamps_are_sampled_in_order_without_looping(hostile: dict[str, Path]) -> None:
    frames: list[float] = []
    result = scan_video(hostile["backwards"], lambda f: frames.append(f.time))
    assert frames == sorted(frames) and frames[0] == 0.0 and len(frames) == len(set(frames))
    assert result.frame_times == frames and result.cuts == sorted(result.cuts)


def test_frame_budget_and_deadline_stop_a_pass(tmp_path: Path) -> None:
    path = SHARED_VIDEO / "ball_throw_10s.mp4"
    tight = DecodeBudget(max_seconds=60, max_frames=5, max_pixels=10**8, wall_seconds=60, declared_seconds=10,
                         limit_seconds=60)
    with pytest.raises(MediaLimitExceeded, match="more than 5 frames"):
        scan_video(path, lambda f: None, budget=tight)
    expired = DecodeBudget.for_duration(10.0, wall_seconds=0.0)
    with pytest.raises(MediaLimitExceeded, match="took longer than"):
        scan_video(path, lambda f: None, budget=expired)
    small = DecodeBudget.for_duration(10.0, max_pixels=64 * 64)
    with pytest.raises(MediaLimitExceeded) as caught:
        list(sample_frames(path, [1.0], budget=small))
    assert caught.value.code == "video_resolution_too_high"


# --- 2: audio behind a lying header is bounded in memory --------------------------------------------------


def test_lying_audio_is_capped_in_samples_and_memory(hostile: dict[str, Path]) -> None:
    path = hostile["lying_audio"]  # 10 s header, 600 s of audio
    tracemalloc.start()
    try:
        started = time.monotonic()
        with pytest.raises(MediaLimitExceeded) as caught:
            decode_audio(path)  # no budget given: the header's 10 s (+ slack) bounds it
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "audio_file_broken" and "declares 10.0s" in caught.value.message
    # 600 s at 16 kHz would be 38 MB (and 2x that with list + concatenate); the cap stops at ~20 s.
    assert peak < 4 * 1024 * 1024, peak
    assert elapsed < 5.0
    # A caller-supplied budget caps it too, and a budget that fits decodes it all.
    with pytest.raises(MediaLimitExceeded):
        decode_audio(path, budget=DecodeBudget.for_duration(60.0, limit=60.0, media="audio"))
    whole = decode_audio(path, budget=DecodeBudget.for_duration(600.0, limit=7200, media="audio"))
    assert abs(whole.size / AUDIO_SAMPLE_RATE - 600) < 1
    assert decode_audio(path, budget=DecodeBudget.for_duration(600.0, media="audio"), until=30.0).size \
        <= 31 * AUDIO_SAMPLE_RATE


def test_lying_video_is_probed_by_its_streams_and_refused_past_the_limit(hostile: dict[str, Path],
                                                                        tmp_path: Path) -> None:
    path = hostile["lying_video"]
    info = probe(path)
    assert info.duration >= 590  # the packets, not the 10 s header
    with pytest.raises(MediaRejected) as rejected:
        validate_video(info, settings(tmp_path, max_video_seconds=300))
    assert rejected.value.code == "video_duration_too_long"
    # The ingest budget follows the probed duration, so DecodeStage decodes what is really there ...
    ok = settings(tmp_path)
    audio = decode_audio(path, budget=decode_budget(info, ok))
    assert abs(audio.size / AUDIO_SAMPLE_RATE - 600) < 1
    # ... and a budget from the header alone (the file lied) stops early with the reason.
    with pytest.raises(MediaLimitExceeded, match=r"declares 10\.0s") as caught:
        decode_audio(path)
    assert isinstance(caught.value, ServiceError) and caught.value.status == 400


def test_load_audio_has_a_sample_cap(hostile: dict[str, Path]) -> None:
    with pytest.raises(AudioTooLong):
        load_audio(hostile["lying_audio"], max_seconds=30)
    assert load_audio(hostile["lying_audio"].read_bytes(), max_seconds=700).size > 590 * AUDIO_SAMPLE_RATE


# --- 16: a non-zero start time -------------------------------------------------------------------------


def test_non_zero_start_time_puts_the_first_frame_at_zero(hostile: dict[str, Path]) -> None:
    path = hostile["offset"]
    info = probe(path)
    assert 9.5 < info.duration < 11
    frames: list[float] = []
    result = scan_video(path, lambda f: frames.append(f.time), budget=DecodeBudget.for_duration(info.duration))
    assert frames[0] == 0.0 and frames == result.frame_times
    assert frames[-1] < info.duration and len(frames) >= 9
    assert all(0 < c < info.duration for c in result.cuts)
    sampled = list(sample_frames(path, [0.0, 5.0]))
    assert [f.time for f in sampled] == [0.0, 5.0]
    audio = decode_audio(path)
    assert abs(audio.size / AUDIO_SAMPLE_RATE - info.duration) < 0.5


def test_a_normal_video_decodes_as_before() -> None:
    path = SHARED_VIDEO / "ball_throw_10s.mp4"
    info = probe(path)
    assert info.duration == 10.2
    budget = decode_budget(info, Settings())
    frames: list[float] = []
    result = scan_video(path, lambda f: frames.append(f.time), budget=budget)
    assert frames == [float(i) for i in range(11)] or frames == [float(i) for i in range(10)]
    assert result.duration < info.duration
    audio = decode_audio(path, budget=budget)
    assert abs(audio.size / AUDIO_SAMPLE_RATE - info.duration) < 0.2


# --- 14: image bombs are refused from the header ---------------------------------------------------------


def bilevel_png(width: int, height: int) -> bytes:
    """A valid all-black 1-bit PNG of any size, compressed row by row (tens of KB)."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    comp = zlib.compressobj(9)
    row = b"\0" * (1 + (width + 7) // 8)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", data) + chunk(b"IEND", b""))


def test_image_bombs_are_refused_before_decoding() -> None:
    for width, height in ((13_000, 13_000), (20_000, 20_000)):  # under and over Pillow's own bomb error
        bomb = bilevel_png(width, height)
        assert len(bomb) < 200_000
        with pytest.raises(ServiceError) as caught:
            check_image(bomb, "query_media_file")
        assert caught.value.status == 400 and caught.value.code == "image_resolution_too_high"
        with pytest.raises(ServiceError):
            decode_image(bomb)
    fine = bilevel_png(4096, 4096)
    assert MAX_IMAGE_PIXELS >= 4096 * 4096
    check_image(fine)
    assert decode_image(fine, max_side=512).shape == (512, 512, 3)
    check_image(b"not an image")  # the caller's decoder reports those
    with pytest.raises(ServiceError):
        decode_image(b"not an image")
