"""Security review #18 (information leaks) and #19 (signed URLs and secrets), on a real server on loopback."""

from __future__ import annotations

import itertools
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from framedex.config import Settings
from framedex.ids import is_id, new_id
from framedex.ingest.keys import thumbnail_key
from framedex.platform import Platform
from framedex.services import thumbnails
from tests.conftest import start_server


def test_id_tails_do_not_count_server_activity() -> None:
    ids = [new_id() for _ in range(200)]
    assert all(is_id(i) for i in ids)
    tails = [int(i[-6:], 16) for i in ids]
    # A process-wide counter (the ObjectId layout) makes the last 6 hex digits of consecutive ids differ by
    # exactly 1; random tails almost never do.
    steps = [b - a for a, b in itertools.pairwise(tails)]
    assert sum(step == 1 for step in steps) <= 1
    assert len(set(tails)) == len(tails)


@pytest.fixture(scope="module")
def docs_off(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("docs-off"), workers=0, api_docs=False)
    server, thread, url = start_server(settings)
    yield url
    server.should_exit = True
    thread.join(30)


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/v1.3/openapi.json"])
def test_docs_can_be_turned_off(docs_off: str, path: str) -> None:
    assert httpx.get(f"{docs_off}{path}").status_code == 404
    assert httpx.get(f"{docs_off}/health").status_code == 200  # the server is up: the 404 is the setting


def test_docs_are_on_by_default(live_server: object) -> None:
    url = live_server.url  # type: ignore[attr-defined]
    r = httpx.get(f"{url}/openapi.json")
    assert r.status_code == 200 and "/v1.3/indexes" in r.json()["paths"]


def test_thumbnail_urls_expire(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, workers=0)
    server, thread, base = start_server(settings)
    try:
        platform: Platform = server.config.app.state.platform  # type: ignore[attr-defined]
        video_id = new_id()
        platform.blobs.put_bytes(thumbnail_key(video_id, 3), b"\xff\xd8jpeg")
        fresh = thumbnails.url(platform, base, video_id, 3)
        r = httpx.get(fresh)
        assert r.status_code == 200 and r.content == b"\xff\xd8jpeg"
        exp = int(parse_qs(urlsplit(fresh).query)["exp"][0])
        assert thumbnails.TTL_SECONDS <= exp - time.time() <= thumbnails.TTL_SECONDS + 3600
        max_age = int(r.headers["cache-control"].split("max-age=")[1])
        assert max_age <= exp - time.time() + 1  # no cached copy outlives the signature
        # Issued two days ago: expired, even though the signature is genuine.
        stale = thumbnails.url(platform, base, video_id, 3, now=time.time() - 2 * 86400)
        assert httpx.get(stale).status_code == 404
        # Moving the expiry forward breaks the signature; dropping it is refused too.
        stale_exp = parse_qs(urlsplit(stale).query)["exp"][0]
        assert httpx.get(stale.replace(f"exp={stale_exp}", f"exp={exp}")).status_code == 404
        sig = parse_qs(urlsplit(fresh).query)["sig"][0]
        r = httpx.get(f"{base}/v1.3/thumbnails/{video_id}/3.jpg?sig={sig}")
        assert r.status_code == 404 and set(r.json()) >= {"code", "message"}
    finally:
        server.should_exit = True
        thread.join(30)


def test_signing_key_is_private_and_created_once(tmp_path: Path) -> None:
    first = Platform(Settings(data_dir=tmp_path, workers=0))
    second = Platform(Settings(data_dir=tmp_path, workers=0))
    try:
        assert first.signing_key == second.signing_key and len(first.signing_key) == 32
        mode = stat.S_IMODE((tmp_path / "signing.key").stat().st_mode)
        assert mode == 0o600
    finally:
        first.close()
        second.close()


def test_errors_do_not_name_server_paths_or_remote_statuses(tmp_path: Path) -> None:
    from framedex.ingest.fetch import FetchError, download
    from framedex.ingest.limits import MediaRejected
    from framedex.ingest.probe import probe
    from tests.conftest import serve_directory

    junk = tmp_path / "source"
    junk.write_bytes(bytes(range(256)) * 400)
    with pytest.raises(MediaRejected) as rejected:
        probe(junk)
    assert str(tmp_path) not in str(rejected.value) and "source" not in str(rejected.value)
    with serve_directory(tmp_path) as base, pytest.raises(FetchError) as failed:
        download(f"{base}/missing.mp4", tmp_path.joinpath("out").open("wb"), max_bytes=1 << 20, timeout=5,
                 deadline=10, allow_private=True)
    assert "404" not in str(failed.value) and str(failed.value) == "the URL did not answer with the file"
