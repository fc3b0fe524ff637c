"""HLS streams and representative thumbnails, through the official SDK against a live server.

A real video is uploaded with `enable_video_stream` into an index with the thumbnail addon; the playlist,
a segment and the thumbnail are then fetched by their signed URLs without an API key and decoded.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from PIL import Image
from twelvelabs import TwelveLabs

from framedex.ingest import renditions
from framedex.services import streaming
from tests.conftest import SHARED_MEDIA, LiveServer, Media, ffmpeg

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual"]}]


def _wait_hls(tl: TwelveLabs, task_id: str, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = tl.tasks.retrieve(task_id)
        if task.hls is not None and task.hls.status in ("COMPLETE", "ERROR"):
            return task
        time.sleep(0.5)
    raise TimeoutError(f"task {task_id}: the stream did not finish")


@pytest.fixture(scope="module")
def streamed(tl: TwelveLabs, media: Media) -> dict[str, Any]:
    index = tl.indexes.create(index_name=f"stream-{time.time()}", models=MODELS, addons=["thumbnail"])
    with media.speech_video.open("rb") as f:
        task = tl.tasks.create(index_id=index.id, video_file=f, enable_video_stream=True)
    done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.5)
    assert done.status == "ready", done
    final = _wait_hls(tl, task.id)
    return {"index_id": index.id, "task": final, "video_id": task.video_id, "asset_id": final.asset_id}


def _ffprobe(target: str) -> list[dict[str, Any]]:
    result = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name,codec_type",
                             "-of", "json", target], capture_output=True, text=True, timeout=60, check=True)
    return list(json.loads(result.stdout)["streams"])


def test_task_stream_is_complete_and_playable_without_a_key(streamed: dict[str, Any], tmp_path: Path) -> None:
    hls = streamed["task"].hls
    assert hls.status == "COMPLETE" and hls.video_url and hls.updated_at
    with httpx.Client(timeout=30) as anonymous:  # no x-api-key: the URL alone authorises
        playlist = anonymous.get(hls.video_url)
        assert playlist.status_code == 200, playlist.text
        assert playlist.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        text = playlist.text
        assert text.startswith("#EXTM3U") and "#EXT-X-ENDLIST" in text and "#EXT-X-PLAYLIST-TYPE:VOD" in text
        segments = [line for line in text.splitlines() if line and not line.startswith("#")]
        # A 10 s video in segments of a few seconds; each URI relative, so it stays under the signed prefix.
        assert 2 <= len(segments) <= 5 and all("/" not in s for s in segments)
        durations = [float(line.split(":")[1].rstrip(",")) for line in text.splitlines()
                     if line.startswith("#EXTINF")]
        assert sum(durations) == pytest.approx(10, abs=0.5) and max(durations) <= 6
        segment_url = urljoin(hls.video_url, segments[0])
        segment = anonymous.get(segment_url)
        assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
        assert segment.content[:1] == b"\x47"  # an MPEG-TS sync byte
        partial = anonymous.get(segment_url, headers={"range": "bytes=188-375"})
        assert partial.status_code == 206 and partial.content == segment.content[188:376]
        assert partial.headers["content-range"] == f"bytes 188-375/{len(segment.content)}"
    local = tmp_path / "seg.ts"
    local.write_bytes(segment.content)
    streams = {s["codec_type"]: s["codec_name"] for s in _ffprobe(str(local))}
    assert streams == {"video": "h264", "audio": "aac"}
    # ffprobe follows the playlist and its relative segment URIs itself, as a player would.
    assert {s["codec_name"] for s in _ffprobe(hls.video_url)} == {"h264", "aac"}


def test_thumbnails_of_the_stream_and_the_addon(tl: TwelveLabs, streamed: dict[str, Any]) -> None:
    video = tl.indexes.indexed_assets.retrieve(streamed["index_id"], streamed["video_id"])
    assert video.hls is not None and video.hls.status == "COMPLETE"
    assert video.hls.video_url and video.hls.thumbnail_urls and len(video.hls.thumbnail_urls) == 1
    asset = tl.assets.retrieve(streamed["asset_id"])
    assert asset.hls is not None and asset.hls.status == "ready" and asset.hls.manifest_url
    assert asset.thumbnail is not None and asset.thumbnail.status == "ready"
    with httpx.Client(timeout=30) as anonymous:
        for url in (video.hls.thumbnail_urls[0], asset.thumbnail.representative_url):
            response = anonymous.get(url)
            assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
            picture = Image.open(io.BytesIO(response.content))
            assert picture.format == "JPEG" and picture.size == (640, 360)
            # testsrc2 is colourful; a black or blank frame would have almost no spread
            assert max(hi - lo for lo, hi in picture.convert("RGB").getextrema()) > 100


def test_stream_urls_are_refused_when_tampered_expired_or_outside_the_stream(
        streamed: dict[str, Any], live_server: LiveServer) -> None:
    url = streamed["task"].hls.video_url
    parts = urlsplit(url).path.split("/")  # ['', 'v1.3', 'streams', asset, exp, sig, 'index.m3u8']
    asset_id, exp, sig = parts[3], parts[4], parts[5]
    base = live_server.url
    with httpx.Client(timeout=30) as anonymous:
        forged = "0" * len(sig)
        assert anonymous.get(f"{base}/v1.3/streams/{asset_id}/{exp}/{forged}/index.m3u8").status_code == 403
        later = int(exp) + 3600  # pushing the expiry invalidates the signature
        assert anonymous.get(f"{base}/v1.3/streams/{asset_id}/{later}/{sig}/index.m3u8").status_code == 403
        expired = streaming.signed_prefix(live_server.platform, base, asset_id, ttl=60, now=time.time() - 7200)
        refused = anonymous.get(expired + "index.m3u8")
        assert refused.status_code == 403 and refused.json()["code"] == "media_url_expired"
        # a valid prefix opens only the stream's own files
        prefix = url.rsplit("/", 1)[0]
        assert anonymous.get(f"{prefix}/source").status_code == 404
        assert anonymous.get(f"{prefix}/..%2Fsource").status_code == 404
        assert anonymous.get(f"{prefix}/seg_99999.ts").status_code == 404


def test_public_url_prefixes_signed_urls(streamed: dict[str, Any], live_server: LiveServer,
                                         http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_server.platform.settings, "public_url", "https://videos.example.org/fx")
    task = http.get(f"/tasks/{streamed['task'].id}").json()
    assert task["hls"]["video_url"].startswith("https://videos.example.org/fx/v1.3/streams/")
    # the same path, asked of this server directly, is served: only the origin came from the setting
    local = live_server.url + urlsplit(task["hls"]["video_url"]).path.removeprefix("/fx")
    monkeypatch.undo()
    assert httpx.get(local, timeout=30).status_code == 200


def test_asset_flags_off_means_no_renditions(http: httpx.Client, media: Media, tl: TwelveLabs) -> None:
    with media.silent_video.open("rb") as f:
        created = http.post("/assets", data={"method": "direct", "enable_hls": "false",
                                             "enable_thumbnail": "false"},
                            files={"file": ("silent.mp4", f, "video/mp4")})
    assert created.status_code == 201, created.text
    asset_id = created.json()["_id"]
    deadline = time.monotonic() + 60
    while (asset := tl.assets.retrieve(asset_id)).status != "ready" and time.monotonic() < deadline:
        time.sleep(0.3)
    assert asset.status == "ready" and asset.hls is None and asset.thumbnail is None


def test_asset_upload_gets_a_thumbnail_by_default(http: httpx.Client, media: Media, tl: TwelveLabs) -> None:
    with media.silent_video.open("rb") as f:
        created = http.post("/assets", data={"method": "direct", "enable_hls": "false"},
                            files={"file": ("silent.mp4", f, "video/mp4")})
    asset_id = created.json()["_id"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        asset = tl.assets.retrieve(asset_id)
        if asset.thumbnail is not None and asset.thumbnail.status in ("ready", "error"):
            break
        time.sleep(0.3)
    assert asset.hls is None
    assert asset.thumbnail is not None and asset.thumbnail.status == "ready", asset.thumbnail
    image = httpx.get(asset.thumbnail.representative_url, timeout=30)
    assert image.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(image.content)).size == (320, 240)


def _wait_asset_hls(tl: TwelveLabs, asset_id: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        asset = tl.assets.retrieve(asset_id)
        if asset.status == "failed" or (asset.hls is not None and asset.hls.status in ("ready", "error")):
            return asset
        time.sleep(0.3)
    raise TimeoutError(f"asset {asset_id}: the stream did not finish")


@pytest.mark.parametrize("name", ["piano.wav", "talk.mp4"])
def test_audio_asset_gets_an_audio_only_stream_and_no_thumbnail(
        name: str, http: httpx.Client, media: Media, tl: TwelveLabs, tmp_path: Path) -> None:
    # A real recording; and speech in an .mp4 with no video track, which only the probe finds to be audio.
    if name == "piano.wav":
        src = SHARED_MEDIA / "sounds" / "piano.wav"
    else:
        src = tmp_path / name
        ffmpeg("-i", str(media.speech_wav), "-c:a", "aac", str(src))
    expected = float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                     str(src)], capture_output=True, text=True, check=True).stdout)
    with src.open("rb") as f:
        created = http.post("/assets", data={"method": "direct"}, files={"file": (name, f)})
    assert created.status_code == 201, created.text
    asset = _wait_asset_hls(tl, created.json()["_id"])
    assert asset.status == "ready" and asset.hls is not None and asset.hls.status == "ready", asset
    assert asset.thumbnail is None  # nothing to picture: the request is dropped, not an unexplained error
    streams = _ffprobe(asset.hls.manifest_url)
    assert streams and {(s["codec_type"], s["codec_name"]) for s in streams} == {("audio", "aac")}
    probed = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                             asset.hls.manifest_url], capture_output=True, text=True, timeout=60, check=True)
    assert float(probed.stdout) == pytest.approx(expected, abs=0.5)


def test_task_refused_before_streaming_reports_a_stream_error(tl: TwelveLabs) -> None:
    # Indexing needs a video track; the task fails at validation, so its stream ends in ERROR at once.
    index = tl.indexes.create(index_name=f"audio-{time.time()}", models=MODELS)
    with (SHARED_MEDIA / "sounds" / "piano.wav").open("rb") as f:
        task = tl.tasks.create(index_id=index.id, video_file=f, enable_video_stream=True)
    done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.3)
    assert done.status == "failed" and done.hls is not None and done.hls.status == "ERROR", done
    assert not done.hls.video_url


def test_representative_frame_skips_black_and_prefers_sharp(tmp_path: Path) -> None:
    # 4 s of black, then 4 s of a sharp test pattern, then 4 s of the same pattern heavily blurred.
    src = tmp_path / "mixed.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=320x240:rate=10:duration=4",
           "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=4",
           "-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=4",
           "-filter_complex", "[2:v]gblur=sigma=12[b];[0:v][1:v][b]concat=n=3:v=1[v]", "-map", "[v]",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(src))
    candidates = renditions.sample_candidates(src, 12.0)
    assert len(candidates) == renditions.THUMBNAIL_CANDIDATES
    assert [c.usable for c in candidates[:4]] == [False] * 4  # the black stretch
    best = renditions.pick_representative(candidates, 12.0)
    assert 4.0 <= best.time < 8.0, [(c.time, round(c.sharpness)) for c in candidates]
    data, at = renditions.representative_thumbnail(src, 12.0)
    assert at == best.time and Image.open(io.BytesIO(data)).format == "JPEG"


def test_playlists_are_not_restreamed(tmp_path: Path) -> None:
    hostile = tmp_path / "upload.mp4"
    hostile.write_text("#EXTM3U\n#EXTINF:1,\n/etc/passwd\n#EXT-X-ENDLIST\n")
    with pytest.raises(renditions.RenditionError, match="Playlists"):
        renditions.make_hls(hostile, tmp_path / "out", has_audio=False, timeout_seconds=30, max_bytes=10**6)
