"""Fixtures for the client tests: a short spoken test video, clients against the live server, and a
recording ``httpx.MockTransport`` for the endpoints whose request encoding is all we can check yet."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from framedex import TwelveLabs

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
SPOKEN = "Hello from framedex. The quick brown fox jumps over the lazy dog near the river bank."


@pytest.fixture(scope="session")
def speech_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5 s 640x360 H.264/AAC video with synthetic speech (espeak-ng + ffmpeg)."""
    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is required (apt-get install ffmpeg espeak-ng)")
    root = tmp_path_factory.mktemp("client-media")
    wav = root / "speech.wav"
    subprocess.run(["espeak-ng", "-s", "160", "-w", str(wav), SPOKEN], check=True)
    video = root / "fox.mp4"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=640x360:rate=25", "-i", str(wav),
         "-af", "apad", "-t", "5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         str(video)],
        check=True,
    )
    return video


@pytest.fixture(scope="session")
def client(live_server: Any, api_key: str) -> Iterator[TwelveLabs]:
    """The framedex sync client against the session's live server (over loopback HTTP)."""
    with TwelveLabs(api_key=api_key, base_url=live_server.url, timeout=120) as c:
        yield c


def unique(prefix: str) -> str:
    return f"{prefix}-{time.time_ns()}"


# ------------------------------------------------------------------------------------ mock transport


@dataclass
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


def parse_multipart(request: httpx.Request) -> list[Part]:
    """Split a multipart/form-data body into its parts (in order)."""
    ctype = request.headers["content-type"]
    assert ctype.startswith("multipart/form-data; boundary="), ctype
    boundary = ctype.split("boundary=", 1)[1].encode()
    body = request.content
    if "content-length" in request.headers:
        assert int(request.headers["content-length"]) == len(body)
    chunks = body.split(b"--" + boundary)
    assert chunks[0] == b"" and chunks[-1] == b"--\r\n", chunks[-1]
    parts = []
    for chunk in chunks[1:-1]:
        assert chunk.startswith(b"\r\n") and chunk.endswith(b"\r\n")
        head, _, data = chunk[2:-2].partition(b"\r\n\r\n")
        headers = dict(
            (k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in head.decode().split("\r\n"))
        )
        disp = headers["content-disposition"]
        attrs = dict(
            (k.strip(), v.strip().strip('"')) for k, v in (a.split("=", 1) for a in disp.split(";")[1:])
        )
        parts.append(Part(attrs["name"], attrs.get("filename"), headers.get("content-type"), data))
    return parts


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class Recorder:
    """Records every request; answers with the queued responses, then with ``default``."""

    default: Any = field(default_factory=dict)
    queue: list[httpx.Response] = field(default_factory=list)
    requests: list[httpx.Request] = field(default_factory=list)
    handler: Handler | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if self.handler is not None:
            return self.handler(request)
        if self.queue:
            return self.queue.pop(0)
        return httpx.Response(200, json=self.default)

    def reply(self, *responses: httpx.Response) -> Recorder:
        self.queue.extend(responses)
        return self

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def json(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)

    def query(self, index: int = -1) -> list[tuple[str, str]]:
        return list(self.requests[index].url.params.multi_items())


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def mock(recorder: Recorder) -> Iterator[TwelveLabs]:
    with TwelveLabs(api_key="tlk_test", base_url="http://tl.local", transport=httpx.MockTransport(recorder)) as c:
        yield c
