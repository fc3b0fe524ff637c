"""What failed work tells a client: a reason in the API's own words, never the server's paths, the
addresses of internal services or a library's text (review #18). The detail goes to the log.

Every case is real: corrupt bytes through a live server, ffmpeg and PyAV on a broken file, and a language
model endpoint on loopback that fails the way a crashed llama-server does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import httpx
import pytest

from framedex.config import Settings
from framedex.ingest import renditions
from framedex.platform import Platform
from framedex.services import auth
from framedex.services.analysis import GENERATION_FAILED
from tests.analysis.conftest import insert_video
from tests.conftest import LiveServer, start_server

# An MP4 file type box over noise: it names itself a video, and nothing can decode it.
GARBAGE = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 400
MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def _assert_no_server_detail(text: str, *paths: Path) -> None:
    for path in paths:
        assert str(path) not in text, text
    for marker in ("Traceback", "Errno", "/tmp/", "site-packages"):
        assert marker not in text, text


def test_a_corrupt_upload_fails_with_a_reason_that_names_no_server_path(
        http: httpx.Client, live_server: LiveServer) -> None:
    index = http.post("/indexes", json={"index_name": f"corrupt-{time.time()}", "models": MODELS})
    assert index.status_code == 201, index.text
    created = http.post("/tasks", data={"index_id": index.json()["_id"]},
                        files={"video_file": ("broken.mp4", GARBAGE, "video/mp4")})
    assert created.status_code == 201, created.text
    task = live_server.wait_task(http, created.json()["_id"], timeout=60)
    assert task["status"] == "failed"
    assert task["error"]["code"] == "video_file_broken" and task["error"]["message"], task
    _assert_no_server_detail(json.dumps(task), live_server.settings.data_dir)

    asset = http.post("/assets", data={"method": "direct"}, files={"file": ("broken.mp4", GARBAGE, "video/mp4")})
    assert asset.status_code in (200, 201), asset.text
    deadline = time.monotonic() + 60
    while (body := http.get(f"/assets/{asset.json()['_id']}").json())["status"] not in ("ready", "failed"):
        assert time.monotonic() < deadline, body
        time.sleep(0.3)
    assert body["status"] == "failed", body
    _assert_no_server_detail(json.dumps(body), live_server.settings.data_dir)


def test_renditions_of_a_broken_file_fail_without_its_path(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "stored-media-blob"
    src.write_bytes(GARBAGE)
    with caplog.at_level(logging.INFO, logger="framedex.ingest.renditions"):
        with pytest.raises(renditions.RenditionError) as opened:
            renditions.sample_candidates(src, 6.0)
        with pytest.raises(renditions.RenditionError) as rendered:
            renditions.make_hls(src, tmp_path / "hls", has_audio=False, timeout_seconds=60, max_bytes=1 << 26)
    assert str(opened.value) == "The media could not be opened."
    assert str(rendered.value) == "The media could not be decoded into a stream."
    assert caplog.text.count(str(src)) >= 2  # the operator still sees what PyAV and ffmpeg said, and where


class _CrashedLLM(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that fails every request, naming its model file and host."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"error": {"message": "llama.cpp: failed to load /srv/models/secret-model.gguf on llm.internal"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass
class CrashedLLMServer:
    api: str
    platform: Platform
    key: str
    tenant: str
    llm_port: int


@pytest.fixture(scope="module")
def crashed_llm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrashedLLMServer]:
    llm = ThreadingHTTPServer(("127.0.0.1", 0), _CrashedLLM)
    Thread(target=llm.serve_forever, daemon=True).start()
    llm_port = llm.server_address[1]
    settings = Settings(data_dir=tmp_path_factory.mktemp("crashed-llm"), workers=1, worker_poll_seconds=0.2,
                        llm_url=f"http://127.0.0.1:{llm_port}", llm_model="remote-model")
    server, thread, url = start_server(settings)
    app: Any = server.config.app
    platform: Platform = app.state.platform
    key, info = auth.create_key(platform, "crashed-llm")
    yield CrashedLLMServer(f"{url}/v1.3", platform, key, info.tenant_id, llm_port)
    server.should_exit = True
    thread.join(30)
    llm.shutdown()


def test_a_failing_language_model_is_an_api_error_without_its_internals(
        crashed_llm_server: CrashedLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    server = crashed_llm_server
    video = insert_video(server.platform, server.tenant, duration=30.0,
                         speech=[(0.5, 5.0, "Lava flows down the volcano.")])
    with httpx.Client(base_url=server.api, headers={"x-api-key": server.key}, timeout=60) as client, \
            caplog.at_level(logging.WARNING, logger="framedex.services.analysis"):
        answers = [client.post("/analyze", json={"video_id": video.id, "prompt": "What happens?", "stream": False}),
                   client.post("/summarize", json={"video_id": video.id, "type": "chapter"})]
        streamed = client.post("/analyze", json={"video_id": video.id, "prompt": "What happens?", "stream": True})
    for answer in answers:
        assert answer.status_code == 500, answer.text
        assert answer.json() == {"code": "internal_error", "message": GENERATION_FAILED}
    assert streamed.status_code == 200
    assert GENERATION_FAILED in streamed.text
    for text in [*(a.text for a in answers), streamed.text]:
        assert "secret-model.gguf" not in text and "llm.internal" not in text and str(server.llm_port) not in text
    assert "secret-model.gguf" in caplog.text  # the operator sees what the endpoint said
