"""Playback of the original file: signed URLs or the API key, byte ranges, content types, behind a public URL.

A server with no workers is enough: an uploaded video's original is stored when the task is created, and
no model needs to run for it to be played back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from framedex.config import Settings
from framedex.platform import Platform
from framedex.services import auth, playback
from tests.conftest import SHARED_MEDIA, Media, start_server

PUBLIC = "https://videos.example.test/framedex"


@dataclass
class MediaServer:
    url: str
    platform: Platform
    key: str
    http: httpx.Client

    def local(self, public_url: str) -> str:
        """What a reverse proxy at PUBLIC would forward to this server."""
        assert public_url.startswith(PUBLIC + "/"), public_url
        return self.url + public_url[len(PUBLIC):]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MediaServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("media-server"), workers=0, public_url=PUBLIC)
    uv, thread, url = start_server(settings)
    platform: Platform = uv.config.app.state.platform  # type: ignore[attr-defined]
    key, _ = auth.create_key(platform, "media")
    with httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": key}, timeout=30) as client:
        yield MediaServer(url, platform, key, client)
    uv.should_exit = True
    thread.join(30)


def _upload(server: MediaServer, path: Path) -> str:
    index = server.http.post("/indexes", json={"index_name": f"media-{path.stem}-{time.monotonic_ns()}",
                                               "models": [{"model_name": "marengo3.0",
                                                           "model_options": ["visual", "audio"]}]})
    assert index.status_code == 201, index.text
    with path.open("rb") as f:
        task = server.http.post("/tasks", data={"index_id": index.json()["_id"]},
                                files={"video_file": (path.name, f, "application/octet-stream")})
    assert task.status_code == 201, task.text
    return str(task.json()["video_id"])


@pytest.fixture(scope="module")
def mp4(server: MediaServer, media: Media) -> tuple[str, bytes]:
    return _upload(server, media.speech_video), media.speech_video.read_bytes()


def _signed(server: MediaServer, video_id: str) -> str:
    r = server.http.get(f"/media/{video_id}/playback-url")
    assert r.status_code == 200, r.text
    return server.local(r.json()["url"])


def test_playback_url_is_signed_under_the_public_url_and_needs_a_key(server: MediaServer,
                                                                       mp4: tuple[str, bytes]) -> None:
    video_id, _ = mp4
    r = server.http.get(f"/media/{video_id}/playback-url", params={"ttl": 600})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"].startswith(f"{PUBLIC}/v1.3/media/{video_id}/original?"), body
    assert body["content_type"] == "video/mp4"
    query = parse_qs(urlsplit(body["url"]).query)
    assert abs(int(query["exp"][0]) - (time.time() + 600)) < 30
    assert body["expires_at"].endswith("Z")

    anonymous = httpx.get(f"{server.url}/v1.3/media/{video_id}/playback-url")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "api_key_invalid"
    missing = server.http.get("/media/0123456789abcdef01234567/playback-url")
    assert missing.status_code == 404 and set(missing.json()) >= {"code", "message"}
    too_long = server.http.get(f"/media/{video_id}/playback-url", params={"ttl": 10**9})
    assert too_long.status_code == 400 and too_long.json()["code"] == "parameter_invalid"


def test_signed_url_serves_the_whole_file(server: MediaServer, mp4: tuple[str, bytes]) -> None:
    video_id, data = mp4
    r = httpx.get(_signed(server, video_id))  # no key: the signature is the authorisation
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes"
    assert int(r.headers["content-length"]) == len(data)
    assert r.headers["cache-control"].startswith("private")
    assert r.content == data


@pytest.mark.parametrize(("header", "lo", "hi"), [
    ("bytes=100-199", 100, 199),
    ("bytes=1000-", 1000, None),
    ("bytes=-50", -50, None),
    ("bytes=0-0", 0, 0),
    ("bytes=500-99999999", 500, None),  # the end is clamped to the file
])
def test_byte_ranges(server: MediaServer, mp4: tuple[str, bytes], header: str, lo: int, hi: int | None) -> None:
    video_id, data = mp4
    r = httpx.get(_signed(server, video_id), headers={"Range": header})
    assert r.status_code == 206, r.text
    start = lo if lo >= 0 else len(data) + lo
    end = hi if hi is not None else len(data) - 1
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert int(r.headers["content-length"]) == end - start + 1
    assert r.content == data[start:end + 1]


def test_unsatisfiable_and_ignored_ranges(server: MediaServer, mp4: tuple[str, bytes]) -> None:
    video_id, data = mp4
    url = _signed(server, video_id)
    past = httpx.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(data)}"
    assert past.json()["code"] == "range_not_satisfiable" and past.json()["message"]
    # Several ranges and other units are allowed to be ignored: the whole file comes back.
    for header in ("bytes=0-10,20-30", "items=0-5", "bytes=abc"):
        r = httpx.get(url, headers={"Range": header})
        assert (r.status_code, len(r.content)) == (200, len(data)), header
    # A stale If-Range means the client's partial copy is of another file: send all of it.
    stale = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": '"other"'})
    assert (stale.status_code, len(stale.content)) == (200, len(data))
    fresh = httpx.get(url, headers={"Range": "bytes=0-9", "If-Range": stale.headers["etag"]})
    assert (fresh.status_code, fresh.content) == (206, data[:10])


def test_head_and_conditional_get(server: MediaServer, mp4: tuple[str, bytes]) -> None:
    video_id, data = mp4
    url = _signed(server, video_id)
    head = httpx.head(url, headers={"Range": "bytes=10-19"})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["content-range"] == f"bytes 10-19/{len(data)}"
    full = httpx.head(url)
    assert full.status_code == 200 and int(full.headers["content-length"]) == len(data)
    again = httpx.get(url, headers={"If-None-Match": full.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_bad_signatures_and_expired_urls_are_refused(server: MediaServer, mp4: tuple[str, bytes]) -> None:
    video_id, _ = mp4
    url = _signed(server, video_id)
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    r = httpx.get(tampered)
    assert r.status_code == 403 and r.json()["code"] == "media_signature_invalid"
    # A signature is for one video: it does not open another.
    other = "0123456789abcdef01234567"
    assert httpx.get(url.replace(video_id, other)).status_code == 403
    expired, _ = playback.signed_url(server.platform, server.url, video_id, ttl=60, now=time.time() - 3600)
    r = httpx.get(expired)
    assert r.status_code == 403 and r.json()["code"] == "media_url_expired"
    no_exp = httpx.get(f"{server.url}/v1.3/media/{video_id}/original?sig=abc")
    assert no_exp.status_code == 403


def test_api_key_authorises_its_own_tenant_only(server: MediaServer, mp4: tuple[str, bytes]) -> None:
    video_id, data = mp4
    path = f"{server.url}/media/{video_id}/original"  # at the root as well as under /v1.3
    r = httpx.get(path, headers={"x-api-key": server.key, "Range": "bytes=0-99"})
    assert (r.status_code, r.content) == (206, data[:100])
    assert httpx.get(path).status_code == 401
    assert httpx.get(path, headers={"x-api-key": "wrong"}).json()["code"] == "api_key_invalid"
    stranger, _ = auth.create_key(server.platform, "stranger")  # a new tenant
    r = httpx.get(path, headers={"x-api-key": stranger})
    assert r.status_code == 404 and r.json()["code"] == "resource_not_exists"
    assert httpx.get(f"{server.url}/v1.3/media/{video_id}/playback-url",
                     headers={"x-api-key": stranger}).status_code == 404


@pytest.mark.parametrize(("name", "content_type"), [
    ("jesper_talking_5s.avi", "video/x-msvideo"),
    ("samoyed_dog_2s.mp4", "video/mp4"),
])
def test_content_type_is_read_from_the_file(server: MediaServer, name: str, content_type: str) -> None:
    """Uploaded as application/octet-stream: the type comes from the container's first bytes."""
    video_id = _upload(server, SHARED_MEDIA / "video" / name)
    r = httpx.get(_signed(server, video_id), headers={"Range": "bytes=0-15"})
    assert r.status_code == 206 and r.headers["content-type"] == content_type
