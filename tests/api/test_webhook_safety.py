"""Webhook delivery against receivers that answer huge, slowly or never, and names that rebind to loopback:
every delivery ends within its time bound, reads only a few KiB, and the server keeps serving."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from framedex.config import Settings
from framedex.platform import Platform
from framedex.services import auth, webhooks
from tests.analysis.conftest import FakeLLM, insert_video, wait_for
from tests.conftest import start_server
from tests.ingest.test_fetch_safety import RawServer, raw_server, rebinding_dns, silent

__all__ = ["rebinding_dns"]  # a fixture, used by name

PAYLOAD = webhooks.event("0123456789abcdef01234567", "analyze.task.ready", {"id": "0123456789abcdef01234567"})


def huge_reply(conn: socket.socket, request: bytes, server: RawServer) -> None:
    """200 at once, then a chunked body that never ends, as fast as the client will take it."""
    server.send(conn, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    block = b"x" * (1 << 20)
    frame = b"%x\r\n" % len(block) + block + b"\r\n"
    while not server.stop.is_set():
        server.send(conn, frame)


def slow_status(conn: socket.socket, request: bytes, server: RawServer) -> None:
    """The status line one byte every 0.2 s: each read is quick, the reply never completes in time."""
    for byte in b"HTTP/1.1 200 OK\r\n" * 100:
        if server.stop.is_set():
            return
        server.send(conn, bytes([byte]))
        time.sleep(0.2)


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(**{"data_dir": tmp_path, "allow_private_urls": True, "webhook_timeout_seconds": 1, **overrides})


def test_a_huge_reply_is_not_read(tmp_path: Path) -> None:
    with raw_server(huge_reply) as receiver:
        started = time.monotonic()
        [info] = webhooks.deliver(settings(tmp_path), [f"http://127.0.0.1:{receiver.port}/hook"], PAYLOAD)
        assert time.monotonic() - started < 2
        assert info == {"url": f"http://127.0.0.1:{receiver.port}/hook", "delivered": True, "attempts": 1}
        # We hung up after a few KiB; what the receiver got out is bounded by socket buffers, not by its will.
        wait_for(lambda: receiver.connections == 1 and receiver.sent > 0, 5)
        time.sleep(0.3)
        sent = receiver.sent
        time.sleep(0.3)
        assert receiver.sent == sent < 64 << 20


@pytest.mark.parametrize("receiver_kind", [slow_status, silent], ids=["drip", "silent"])
def test_a_slow_receiver_is_bounded_per_attempt(tmp_path: Path, receiver_kind: Any) -> None:
    with raw_server(receiver_kind) as receiver:
        started = time.monotonic()
        [info] = webhooks.deliver(settings(tmp_path), [f"http://127.0.0.1:{receiver.port}/hook"], PAYLOAD,
                                  attempts=2, backoff=0.1)
        elapsed = time.monotonic() - started
    assert info["delivered"] is False and info["attempts"] == 2
    assert info["last_error"] == "no reply within 1 s"
    assert 1.9 < elapsed < 3.5  # two 1 s attempts and a 0.1 s backoff


def test_many_urls_share_one_time_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhooks, "BUDGET_URLS", 2)
    with raw_server(silent) as receiver:
        urls = [f"http://127.0.0.1:{receiver.port}/hook/{i}" for i in range(5)]
        started = time.monotonic()
        infos = webhooks.deliver(settings(tmp_path), urls, PAYLOAD, attempts=1, backoff=0)
        elapsed = time.monotonic() - started
    assert elapsed < 3  # two URLs' worth, not five
    assert [i["attempts"] for i in infos] == [1, 1, 0, 0, 0]
    assert infos[0]["last_error"] == "no reply within 1 s"
    assert "delivery time (2 s) was spent" in infos[-1]["last_error"]


def test_rebinding_to_loopback_is_refused_without_retries(tmp_path: Path, rebinding_dns: list[str],
                                                          caplog: pytest.LogCaptureFixture) -> None:
    with raw_server(huge_reply) as internal, caplog.at_level("INFO", logger="framedex.services.webhooks"):
        [info] = webhooks.deliver(settings(tmp_path, allow_private_urls=False),
                                  [f"http://rebind.example:{internal.port}/hook"], PAYLOAD)
        assert internal.connections == 0
    assert info["delivered"] is False and info["attempts"] == 1
    # The task says why; where the name leads is for the operator's log only.
    assert info["last_error"] == "refused: the URL leads to a private or local address, which is not allowed"
    assert "127.0.0.1" not in json.dumps(info)
    assert "'rebind.example' resolves to 127.0.0.1" in caplog.text


def test_a_failed_connection_is_described_without_addresses(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    [info] = webhooks.deliver(settings(tmp_path), [f"http://127.0.0.1:{port}/hook"], PAYLOAD, attempts=1)
    assert info["delivered"] is False
    assert info["last_error"] == "the receiver could not be connected to"


@dataclass
class Server:
    url: str
    platform: Platform
    key: str
    tenant: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("webhook-safety")
    uvicorn_server, thread, url = start_server(Settings(data_dir=data_dir, workers=1, allow_private_urls=True,
                                                        worker_poll_seconds=0.1, webhook_timeout_seconds=1))
    platform: Platform = cast(Any, uvicorn_server.config.app).state.platform  # the app's own, not a second one
    platform.models.register("llm", FakeLLM())
    key, info = auth.create_key(platform, "webhooks")
    yield Server(f"{url}/v1.3", platform, key, info.tenant_id)
    uvicorn_server.should_exit = True
    thread.join(30)


def test_hostile_receivers_do_not_hold_the_server(server: Server) -> None:
    video = insert_video(server.platform, server.tenant, duration=20.0,
                         speech=[(0.0, 5.0, "volcanoes and glaciers")])
    with raw_server(huge_reply) as huge, raw_server(slow_status) as slow, \
            httpx.Client(base_url=server.url, headers={"x-api-key": server.key}, timeout=30) as client:
        urls = [f"http://127.0.0.1:{huge.port}/hook", f"http://127.0.0.1:{slow.port}/hook"]
        created = client.post("/analyze/tasks", json={"video_id": video.id, "prompt": "Summarize",
                                                      "webhook_urls": urls})
        assert created.status_code == 201, created.text
        task_id = created.json()["task_id"]
        started = time.monotonic()
        wait_for(lambda: slow.connections > 0, 20)  # delivery is under way on the worker
        ping = time.monotonic()
        assert client.get("/indexes").status_code == 200
        assert time.monotonic() - ping < 1
        task = wait_for(lambda: (t := client.get(f"/analyze/tasks/{task_id}").json()).get("webhooks") and t, 20)
        # three 1 s attempts and 1.5 s of backoff for the slow one; the huge one took one short attempt
        assert time.monotonic() - started < 8
        by_url = {w["url"]: w for w in task["webhooks"]}
        assert by_url[urls[0]]["delivered"] is True and by_url[urls[0]]["attempts"] == 1
        assert by_url[urls[1]]["delivered"] is False and by_url[urls[1]]["attempts"] == 3
        assert by_url[urls[1]]["last_error"] == "no reply within 1 s"
        # The worker is free again: the next task runs to the end.
        second = client.post("/analyze/tasks", json={"video_id": video.id, "prompt": "Again"}).json()["task_id"]
        wait_for(lambda: client.get(f"/analyze/tasks/{second}").json()["status"] == "ready", 10)
