"""Webhook delivery (`services.webhooks`) against a real HTTP endpoint on loopback: the event reaches it as
JSON with its headers, failures are retried a bounded number of times, redirects are not followed, and
private addresses are refused unless the operator allows them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from framedex.config import Settings
from framedex.services import webhooks


class Endpoint:
    """Answers each POST with the next status of `statuses` (the last one repeats) and records it."""

    def __init__(self) -> None:
        self.statuses = [200]
        self.received: list[tuple[str, dict[str, str], Any]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.received.append((self.path, dict(self.headers), json.loads(body)))
                status = endpoint.statuses.pop(0) if len(endpoint.statuses) > 1 else endpoint.statuses[0]
                self.send_response(status)
                if status in (301, 302, 307, 308):
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture()
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    thread = threading.Thread(target=ep.server.serve_forever, daemon=True)
    thread.start()
    yield ep
    ep.server.shutdown()
    ep.server.server_close()


def _settings(tmp_path: Path, *, allow_private: bool = True) -> Settings:
    return Settings(data_dir=tmp_path, allow_private_urls=allow_private, webhook_timeout_seconds=5)


def test_event_ids_are_stable_per_subject_and_type() -> None:
    a = webhooks.event("task1", "analyze.task.ready", {"id": "task1"})
    assert a["id"] == webhooks.event_id("task1", "analyze.task.ready")
    assert a["id"] != webhooks.event_id("task1", "analyze.task.failed")
    assert a["type"] == "analyze.task.ready" and a["data"] == {"id": "task1"} and a["created_at"].endswith("Z")


def test_delivers_json_with_event_header(tmp_path: Path, endpoint: Endpoint) -> None:
    payload = webhooks.event("task1", "analyze.task.ready", {"id": "task1"})
    infos = webhooks.deliver(_settings(tmp_path), [f"{endpoint.url}/hook", f"{endpoint.url}/hook"], payload,
                             backoff=0)
    assert infos == [{"url": f"{endpoint.url}/hook", "delivered": True, "attempts": 1}]  # one per distinct URL
    (path, headers, body), = endpoint.received
    assert path == "/hook" and body == payload
    assert headers["X-Framedex-Event"] == "analyze.task.ready"
    assert headers["User-Agent"].startswith("framedex-webhooks/")


def test_retries_failures_then_reports_the_last_error(tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [500, 200]
    ok = webhooks.deliver(_settings(tmp_path), [endpoint.url], {"type": "t"}, backoff=0)
    assert ok == [{"url": endpoint.url, "delivered": True, "attempts": 2}]
    endpoint.statuses = [503]
    failed = webhooks.deliver(_settings(tmp_path), [endpoint.url], {"type": "t"}, attempts=3, backoff=0)
    assert failed == [{"url": endpoint.url, "delivered": False, "attempts": 3, "last_error": "HTTP 503"}]


def test_redirects_are_not_followed(tmp_path: Path, endpoint: Endpoint) -> None:
    endpoint.statuses = [302]
    info, = webhooks.deliver(_settings(tmp_path), [endpoint.url], {"type": "t"}, attempts=1, backoff=0)
    assert info["delivered"] is False and info["last_error"] == "HTTP 302"
    assert [path for path, _, _ in endpoint.received] == ["/"]


def test_private_addresses_are_refused_unless_allowed(tmp_path: Path, endpoint: Endpoint) -> None:
    info, = webhooks.deliver(_settings(tmp_path, allow_private=False), [endpoint.url], {"type": "t"}, backoff=0)
    assert info["delivered"] is False and info["attempts"] == 0
    assert info["last_error"].startswith("refused: ")
    assert endpoint.received == []
