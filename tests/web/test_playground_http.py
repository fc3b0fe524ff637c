"""The playground's page and assets over HTTP: no key needed, versioned assets cached for good, the page
revalidated, gzip, no path escapes, and `--no-playground` turning it off."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator

import httpx
import pytest

from framedex.api.routers.playground import bundle
from framedex.config import Settings
from tests.conftest import start_server


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, thread, base = start_server(Settings(data_dir=tmp_path_factory.mktemp("playground"), workers=0))
    yield base
    server.should_exit = True
    thread.join(30)


def _assets(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(static/[^"]+)"', page)


def test_page_loads_without_a_key_and_names_versioned_assets(url: str) -> None:
    r = httpx.get(url + "/")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["referrer-policy"] == "no-referrer"
    assets = _assets(r.text)
    version = bundle().version
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {"app.css", "app.js", "api.js"}
    assert all(a.startswith(f"static/{version}/") for a in assets), assets
    assert "{{VERSION}}" not in r.text
    again = httpx.get(url + "/", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_assets_are_immutable_with_etags_and_gzip(url: str) -> None:
    page = httpx.get(url + "/").text
    for path in _assets(page):
        r = httpx.get(f"{url}/{path}", headers={"Accept-Encoding": "identity"})
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert r.headers["x-content-type-options"] == "nosniff"
        expected = "text/javascript" if path.endswith(".js") else "text/css"
        assert r.headers["content-type"].startswith(expected)
        assert httpx.get(f"{url}/{path}", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
        raw = httpx.get(f"{url}/{path}", headers={"Accept-Encoding": "gzip"})
        assert raw.headers["content-encoding"] == "gzip" and raw.content == r.content  # httpx decoded it
        with httpx.stream("GET", f"{url}/{path}", headers={"Accept-Encoding": "gzip"}) as s:
            assert gzip.decompress(b"".join(s.iter_raw())) == r.content


def test_an_old_version_gets_todays_file_but_no_long_cache(url: str) -> None:
    r = httpx.get(f"{url}/static/000000000000/app.js")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["nope.js", "index.html", "%2e%2e/app.py", "..%2fapp.py", "../config.py",
                                  "../../signing.key"])
def test_unknown_files_are_refused_in_the_api_envelope(url: str, path: str) -> None:
    """Files are looked up by name among those read at start: nothing outside the folder can be reached.
    (A path that normalises out of /static/ meets the API's key check instead: 401.)"""
    r = httpx.get(f"{url}/static/{bundle().version}/{path}", follow_redirects=True)
    assert r.status_code in (404, 401), (path, r.status_code)
    assert set(r.json()) == {"code", "message"}


def test_no_playground_serves_only_the_api(tmp_path_factory: pytest.TempPathFactory) -> None:
    import threading
    import time

    import uvicorn

    from framedex.api.app import create_app
    from tests.conftest import free_port

    port = free_port()
    app = create_app(Settings(data_dir=tmp_path_factory.mktemp("no-playground"), workers=0), playground=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        # Without the playground "/" is no exempt page: it is an API path like any other.
        assert httpx.get(base + "/").status_code in (401, 404)
        assert httpx.get(f"{base}/static/{bundle().version}/app.js").status_code == 404
        assert httpx.get(base + "/v1.3/indexes").json()["code"] == "api_key_invalid"
    finally:
        server.should_exit = True
        thread.join(30)


def test_cli_flag(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """`framedex serve --no-playground` builds the app without the page."""
    import uvicorn
    from typer.testing import CliRunner

    from framedex.api import app as app_module
    from framedex.cli.main import app as cli

    seen: list[bool] = []
    real = app_module.create_app

    def spy(settings: Settings, **kwargs: bool) -> object:
        seen.append(kwargs.get("playground", True))
        return real(settings, **kwargs)

    monkeypatch.setattr(app_module, "create_app", spy)
    # `serve` runs `uvicorn.Server(serving_config(...)).run()`: stop it there, the app is built by then.
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *a, **k: None)
    data = tmp_path_factory.mktemp("cli")
    for args, want in ((["--no-playground"], False), ([], True)):
        result = CliRunner().invoke(cli, ["serve", "--data-dir", str(data), "--workers", "0", *args])
        assert result.exit_code == 0, result.output
        assert seen[-1] is want
