"""Probes (`/health`, `/ready`) and the access log, against real servers on loopback."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.test_serve_bounds import Server, start


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start(tmp_path_factory.mktemp("health"))
    yield srv
    srv.stop()


@pytest.mark.parametrize("path", ["/health", "/v1.3/health"])
def test_health_needs_no_key_and_reveals_nothing(server: Server, path: str) -> None:
    response = httpx.get(server.url + path, timeout=10)
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "server" not in response.headers  # no software banner


def test_ready_when_started(server: Server) -> None:
    response = httpx.get(server.url + "/ready", timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"] == {"platform": "ok", "store": "ok", "blobs": "ok"}


def test_ready_is_503_when_the_store_fails_and_says_not_why(server: Server, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"database at {server.platform.settings.db_url} is gone")

    monkeypatch.setattr(server.platform.store, "session", broken)
    response = httpx.get(server.url + "/ready", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "not_ready" and body["message"]
    assert body["checks"]["store"] == "failing"
    assert "database" not in response.text and str(server.platform.settings.data_dir) not in response.text


def test_ready_answers_503_in_time_when_the_store_hangs(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def hung(*_args: Any, **_kwargs: Any) -> Any:
        time.sleep(6)
        raise RuntimeError("late")

    monkeypatch.setattr(server.platform.store, "session", hung)
    t0 = time.monotonic()
    response = httpx.get(server.url + "/ready", timeout=10)
    assert response.status_code == 503
    assert time.monotonic() - t0 < 4.0


def test_ready_is_503_when_the_workers_have_died(tmp_path: Path) -> None:
    srv = start(tmp_path, workers=1)
    try:
        assert httpx.get(srv.url + "/ready", timeout=10).json()["checks"]["workers"] == "ok"
        srv.server.config.app.state.worker_pool.stop()  # type: ignore[attr-defined]
        response = httpx.get(srv.url + "/ready", timeout=10)
        assert response.status_code == 503
        assert response.json()["checks"]["workers"] == "failing"
    finally:
        srv.stop()


def access_lines(caplog: pytest.LogCaptureFixture, count: int) -> list[str]:
    """The access log's lines, once `count` have been written (a line is written after the answer is sent)."""
    deadline = time.monotonic() + 5
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name == "framedex.access"]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def test_one_access_line_per_request_with_tenant_and_without_key_or_query(
        server: Server, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="framedex.access")
    key, tenant = server.key()
    with httpx.Client(base_url=server.api, timeout=10) as client:
        ok = client.get("/indexes", params={"page_limit": 2, "token": "s3cr3t-token"}, headers={"x-api-key": key})
        bad = client.get("/indexes", headers={"x-api-key": key[:-4] + "zzzz"})
        odd = client.get("/no%0Asuch GET /forged 200", headers={"x-api-key": key})
    assert (ok.status_code, bad.status_code, odd.status_code) == (200, 401, 404)
    lines = access_lines(caplog, 3)
    assert len(lines) == 3, lines
    first, second, third = lines
    assert first.startswith("GET /v1.3/indexes 200 ") and first.endswith(" client=127.0.0.1"), first
    assert f"tenant={tenant}" in first and "ms tenant=" in first
    assert second.startswith("GET /v1.3/indexes 401 ") and "tenant=-" in second, second
    assert third.startswith("GET /v1.3/no\\x0asuch\\x20GET\\x20/forged\\x20200 404 "), third
    text = "\n".join(lines)
    assert key not in text and key[:-4] not in text
    assert "s3cr3t" not in text and "page_limit" not in text
