"""Signed webhooks (issue 14, review #19): a receiver verifies the `TL-Signature` HMAC with its tenant's secret;
failed attempts are retried with backoff and logged."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from framedex.config import Settings
from framedex.services import auth, webhooks
from framedex.services.platform import Platform
from tests.analysis.conftest import FakeLLM, insert_video, wait_for
from tests.conftest import start_server


@dataclass
class Receiver:
    """A webhook receiver as a customer writes one: it checks the signature before trusting the body."""

    secret: str
    fail_first: int = 0  # answer 503 to this many deliveries first
    url: str = ""
    received: list[tuple[bytes, str]] = field(default_factory=list)
    verified: list[bool] = field(default_factory=list)


@contextmanager
def receiver(secret: str, fail_first: int = 0) -> Iterator[Receiver]:
    state = Receiver(secret, fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            header = self.headers.get("TL-Signature", "")
            state.received.append((body, header))
            ok = webhooks.verify(state.secret, body, header)
            state.verified.append(ok)
            status = 401 if not ok else 503 if len(state.received) <= state.fail_first else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


PAYLOAD = webhooks.event("0123456789abcdef01234567", "analyze.task.ready", {"id": "0123456789abcdef01234567"})


def test_sign_and_verify() -> None:
    body = json.dumps(PAYLOAD).encode()
    now = 1_800_000_000
    header = webhooks.sign("whsec_a", body, now)
    assert header.startswith(f"t={now},v1=") and len(header.split("v1=")[1]) == 64
    assert webhooks.verify("whsec_a", body, header, now=now + 10)
    assert not webhooks.verify("whsec_b", body, header, now=now)  # another tenant's secret
    assert not webhooks.verify("whsec_a", body.replace(b"ready", b"faile"), header, now=now)  # tampered
    assert not webhooks.verify("whsec_a", body, header, now=now + webhooks.TOLERANCE_SECONDS + 1)  # replayed
    assert not webhooks.verify("whsec_a", body, "garbage", now=now)
    assert not webhooks.verify("whsec_a", body, f"t={now}", now=now)


def test_tenant_secrets_differ_per_tenant() -> None:
    key = b"k" * 32
    assert webhooks.tenant_secret(key, "a" * 24) != webhooks.tenant_secret(key, "b" * 24)
    assert webhooks.tenant_secret(key, "a" * 24) == webhooks.tenant_secret(key, "a" * 24)
    assert webhooks.tenant_secret(key, "a" * 24) != webhooks.tenant_secret(b"j" * 32, "a" * 24)


def test_retries_with_backoff_are_signed_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(data_dir=tmp_path, allow_private_urls=True, webhook_timeout_seconds=2)
    caplog.set_level(logging.INFO, logger="framedex.services.webhooks")
    with receiver("whsec_t", fail_first=2) as hook:
        started = time.monotonic()
        [info] = webhooks.deliver(settings, [hook.url], PAYLOAD, backoff=0.2, secret="whsec_t")
        elapsed = time.monotonic() - started
    assert info == {"url": hook.url, "delivered": True, "attempts": 3}
    assert hook.verified == [True, True, True]
    assert elapsed >= 0.2 + 0.4  # the backoff doubles
    assert json.loads(hook.received[0][0])["id"] == PAYLOAD["id"]  # every retry carries the same event id
    messages = [r.getMessage() for r in caplog.records]
    assert sum("attempt" in m and "failed: HTTP 503" in m for m in messages) == 2
    assert any("delivered (attempt 3)" in m for m in messages)
    assert not any("whsec_t" in m for m in messages)  # the secret is never logged


def test_a_wrong_secret_is_refused_by_the_receiver(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, allow_private_urls=True, webhook_timeout_seconds=2)
    with receiver("whsec_right") as hook:
        [info] = webhooks.deliver(settings, [hook.url], PAYLOAD, attempts=1, secret="whsec_wrong")
    assert hook.verified == [False] and info["delivered"] is False and info["last_error"] == "HTTP 401"


def test_a_finished_analyze_task_sends_a_signed_event(tmp_path: Path) -> None:
    uvicorn_server, thread, url = start_server(Settings(data_dir=tmp_path, workers=1, allow_private_urls=True,
                                                        worker_poll_seconds=0.1, webhook_timeout_seconds=2))
    try:
        platform: Platform = cast(Any, uvicorn_server.config.app).state.platform
        platform.models.register("llm", FakeLLM())
        key, info = auth.create_key(platform, "signed-hooks")
        secret = webhooks.tenant_secret(platform.signing_key, info.tenant_id)
        video = insert_video(platform, info.tenant_id, duration=20.0, speech=[(0.0, 5.0, "glaciers")])
        with receiver(secret) as hook, httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": key},
                                                    timeout=30) as client:
            created = client.post("/analyze/tasks", json={"video_id": video.id, "prompt": "Summarize",
                                                          "webhook_urls": [hook.url]})
            assert created.status_code == 201, created.text
            task_id = created.json()["task_id"]
            task = wait_for(lambda: (t := client.get(f"/analyze/tasks/{task_id}").json()).get("webhooks") and t, 30)
        assert task["webhooks"] == [{"url": hook.url, "delivered": True, "attempts": 1}]
        assert hook.verified == [True]
        body = json.loads(hook.received[0][0])
        assert body["type"] == "analyze.task.ready" and body["data"]["id"] == task_id
    finally:
        uvicorn_server.should_exit = True
        thread.join(30)
