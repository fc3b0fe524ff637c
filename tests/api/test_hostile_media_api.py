"""Hostile media against a live server: a failed task or a 4xx with a reason, fast, never a pinned thread.

Review findings 1 (a first frame at 10¹² s), 2 (hours of audio behind a 10 s header) and 14 (image
decompression bombs), replayed through the API; the files are built by tests/ingest/test_hostile_media.py.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import SHARED_MEDIA, LiveServer, serve_directory
from tests.ingest.test_hostile_media import bilevel_png, lying_audio, video_with_stamps

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


@pytest.fixture(scope="module")
def index_id(http: httpx.Client) -> str:
    resp = http.post("/indexes", json={"index_name": f"hostile-{time.time()}", "models": MODELS})
    assert resp.status_code == 201
    return str(resp.json()["_id"])


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile-api")
    bomb = root / "bomb.png"
    bomb.write_bytes(bilevel_png(20_000, 20_000))  # 400 MP, ~60 KB
    return {
        "bigpts": video_with_stamps(root / "bigpts.mkv", [10**15 + i * 1000 for i in range(5)]),
        "lying_audio": lying_audio(root / "lying_audio.mkv", 600, with_video=False),
        "bomb": bomb,
    }


@pytest.fixture(scope="module")
def file_server(files: dict[str, Path]) -> Iterator[str]:
    with serve_directory(files["bomb"].parent) as url:
        yield url


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def assert_envelope(resp: httpx.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and body["message"], body


def test_first_frame_at_1e12_seconds_fails_the_task_with_a_reason(http: httpx.Client, live_server: LiveServer,
                                                                  files: dict[str, Path], index_id: str) -> None:
    with files["bigpts"].open("rb") as f:
        created = http.post("/tasks", data={"index_id": index_id}, files={"video_file": ("bigpts.mkv", f)})
    assert created.status_code == 201, created.text
    task = live_server.wait_task(http, created.json()["_id"], timeout=30)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "video_file_broken" and "not plausible" in task["error"]["message"]


def test_sync_embed_of_hostile_media_answers_400_at_once(http: httpx.Client, files: dict[str, Path]) -> None:
    started = time.monotonic()
    resp = http.post("/embed-v2", json={"input_type": "video", "model_name": "marengo3.0",
                                        "video": {"media_source": {"base64_string": b64(files["bigpts"])}}})
    assert_envelope(resp, 400, "video_file_broken")
    # 10 min of audio behind a 10 s header: decoding stops at the header's duration plus slack.
    resp = http.post("/embed-v2", json={"input_type": "audio", "model_name": "marengo3.0",
                                        "audio": {"media_source": {"base64_string": b64(files["lying_audio"])}}})
    assert_envelope(resp, 400, "audio_file_broken")
    assert "declares 10.0s" in resp.json()["message"]
    assert time.monotonic() - started < 20
    assert http.get("/indexes").status_code == 200


def test_image_bomb_by_url_is_a_400(http: httpx.Client, index_id: str, file_server: str) -> None:
    resp = http.post("/search", data={"index_id": index_id, "search_options": "visual", "query_media_type": "image",
                                      "query_media_url": f"{file_server}/bomb.png"})
    assert_envelope(resp, 400, "image_resolution_too_high")


def test_image_bomb_as_a_file_is_a_4xx(http: httpx.Client, index_id: str, files: dict[str, Path]) -> None:
    bomb = files["bomb"].read_bytes()
    resp = http.post("/search", data={"index_id": index_id, "search_options": "visual", "query_media_type": "image"},
                     files={"query_media_file": ("bomb.png", bomb, "image/png")})
    assert 400 <= resp.status_code < 500, resp.text
    resp = http.post("/embed-v2", json={"input_type": "image", "model_name": "marengo3.0",
                                        "image": {"media_source": {"base64_string": b64(files["bomb"])}}})
    assert 400 <= resp.status_code < 500, resp.text


def test_a_real_video_still_indexes(http: httpx.Client, live_server: LiveServer, index_id: str) -> None:
    path = SHARED_MEDIA / "video" / "ball_throw_10s.mp4"
    with path.open("rb") as f:
        created = http.post("/tasks", data={"index_id": index_id}, files={"video_file": (path.name, f)})
    assert created.status_code == 201, created.text
    task = live_server.wait_task(http, created.json()["_id"], timeout=240)
    assert task["status"] == "ready", task
    video = http.get(f"/indexes/{index_id}/indexed-assets/{task['video_id']}").json()
    assert abs(video["system_metadata"]["duration"] - 10.2) < 0.01
