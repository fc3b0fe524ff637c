"""Shared fixtures: generated media and one real framedex server on loopback per test session."""

from __future__ import annotations

import os

# Prove that nothing reaches for a model hub or the internet: any such attempt fails fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
for _var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
    os.environ[_var] = "http://127.0.0.1:9"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
# The suite runs far more searches and analyses from one key than the default per-key rate limits allow
# (e.g. 50 searches a minute); lift them for every server the tests start. tests/api/test_rate_limits.py
# sets its own.
for _field in ("SEARCH", "ANALYZE", "ANALYZE_BATCHES", "EMBED_V2", "EMBED_V2_TASKS", "KNOWLEDGE_SEARCH"):
    os.environ.setdefault(f"FRAMEDEX_RATE_LIMIT_{_field}", "1000000")

import contextlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
import pytest  # noqa: E402
import uvicorn  # noqa: E402

from framedex.api.app import create_app  # noqa: E402
from framedex.config import Settings  # noqa: E402
from framedex.platform import Platform  # noqa: E402
from framedex.services import auth  # noqa: E402
from tests.serve_process import free_port  # noqa: E402

# The real PostgreSQL, Redis and S3 servers, started on first use by the tests that need them.
pytest_plugins = ["tests.server_fixtures"]

SHARED_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
SPOKEN_TEXT = (
    "Welcome to the framedex demonstration. Today we talk about volcanoes, glaciers and "
    "the migration of humpback whales across the Pacific Ocean."
)



@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """A quiet static file server for `directory` on loopback; yields its base URL."""
    root = str(directory)

    class Handler(SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=root, **kwargs)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def speak(text: str, path: Path, speed: int = 150) -> Path:
    subprocess.run(["espeak-ng", "-s", str(speed), "-w", str(path), text], check=True)
    return path


@dataclass
class Media:
    root: Path
    speech_wav: Path
    speech_video: Path  # 10 s, 640x360 H.264 + AAC, with SPOKEN_TEXT
    silent_video: Path  # 6 s, no audio track
    short_video: Path  # 1 s: below the minimum duration
    tiny_video: Path  # 48x32: below the minimum resolution
    corrupt_video: Path  # an mp4 header followed by garbage
    text_file: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("media")
    wav = speak(SPOKEN_TEXT, root / "speech.wav")
    video = root / "speech_talk.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25", "-i", str(wav), "-af", "apad",
           "-t", "10", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
           str(video))
    silent = root / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-t", "6", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(silent))
    short = root / "short.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-t", "1", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(short))
    tiny = root / "tiny.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=48x32:rate=15", "-t", "5", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(tiny))
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(video.read_bytes()[:64] + os.urandom(50_000))
    text = root / "notes.txt"
    text.write_text("this is not a video\n" * 100)
    return Media(root, wav, video, silent, short, tiny, corrupt, text)


@dataclass
class LiveServer:
    url: str
    platform: Platform
    settings: Settings

    @property
    def api(self) -> str:
        return f"{self.url}/v1.3"

    def new_key(self, name: str = "test") -> str:
        key, _ = auth.create_key(self.platform, name)
        return key

    def wait_task(self, client: httpx.Client, task_id: str, timeout: float = 240) -> dict:  # type: ignore[type-arg]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            task = client.get(f"/tasks/{task_id}").json()
            if task["status"] in ("ready", "failed"):
                return task  # type: ignore[no-any-return]
            time.sleep(0.3)
        raise TimeoutError(f"task {task_id} did not finish")


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # not the main thread
        pass


def start_server(settings: Settings) -> tuple[_ThreadedServer, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = _ThreadedServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("server-data")
    settings = Settings(data_dir=data_dir, workers=1, allow_private_urls=True, worker_poll_seconds=0.2)
    server, thread, url = start_server(settings)
    platform: Platform = server.config.app.state.platform  # type: ignore[attr-defined]
    yield LiveServer(url, platform, settings)
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="session")
def api_key(live_server: LiveServer) -> str:
    return live_server.new_key("session")


@pytest.fixture(scope="session")
def http(live_server: LiveServer, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.api, headers={"x-api-key": api_key}, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def tl(live_server: LiveServer, api_key: str):  # type: ignore[no-untyped-def]
    """The official twelvelabs SDK, pointed at the live server."""
    from twelvelabs import TwelveLabs

    return TwelveLabs(api_key=api_key, base_url=live_server.api)


def require_tools() -> None:
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is required by the tests: run scripts/setup.sh")


require_tools()
