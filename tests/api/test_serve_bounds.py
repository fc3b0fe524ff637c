"""Serving bounds (security review #6 and #15): slow or half-open clients are dropped on time while others
are served; past the connection cap a client gets a 503 envelope at once; expensive requests are capped per
tenant and sync analysis has a bounded pool of its own (429 `too_many_requests` when full); the model takes
tenants in fair turns.

Each server here is a real uvicorn on loopback, configured by `serving.serving_config` as `framedex serve`
configures it, with short timeouts so that the tests run in seconds.
"""

from __future__ import annotations

import concurrent.futures as cf
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from framedex.api.app import create_app
from framedex.api.serving import serving_config
from framedex.config import Settings
from framedex.models.base import ChatMessage
from framedex.models.llm import FairScheduler, Generation, OnText, current_tenant
from framedex.platform import Platform
from framedex.services import auth
from tests.analysis.conftest import insert_video
from tests.conftest import _ThreadedServer, free_port
from tests.serve_process import start_serve

HEAD_TIMEOUT = 1.5
BODY_GRACE = 1.5


@dataclass
class Server:
    url: str
    platform: Platform
    server: _ThreadedServer
    thread: threading.Thread

    @property
    def api(self) -> str:
        return f"{self.url}/v1.3"

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.url.split("//", 1)[1].split(":")
        return host, int(port)

    def key(self) -> tuple[str, str]:
        key, info = auth.create_key(self.platform, "bounds")
        return key, info.tenant_id

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def start(data_dir: Path, **overrides: Any) -> Server:
    settings = Settings(data_dir=data_dir, **{"workers": 0, "worker_poll_seconds": 0.2, **overrides})
    port = free_port()
    server = _ThreadedServer(serving_config(create_app(settings), settings, host="127.0.0.1", port=port,
                                            log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    return Server(f"http://127.0.0.1:{port}", server.config.app.state.platform,  # type: ignore[attr-defined]
                  server, thread)


@pytest.fixture(scope="module")
def bounded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start(tmp_path_factory.mktemp("bounds"), http_header_timeout_seconds=HEAD_TIMEOUT,
                   http_body_grace_seconds=BODY_GRACE, http_min_body_rate=10_000_000, max_connections=40)
    yield server
    server.stop()


# --- slow and half-open clients ----------------------------------------------------------------------


@dataclass
class SlowClient:
    """A socket that sends `head`, then one byte of `drip` every 0.25 s, until the server closes it."""

    address: tuple[str, int]
    head: bytes
    drip: bytes
    closed_after: float | None = None
    answer: bytes = b""
    sock: socket.socket = field(init=False)

    def __post_init__(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=5)
        if self.head:
            self.sock.sendall(self.head)

    def run(self, started: float, give_up: float) -> None:
        i = 0
        try:
            while time.monotonic() < give_up:
                readable, _, _ = select.select([self.sock], [], [], 0.25)
                if readable:
                    data = self.sock.recv(65536)
                    if not data:
                        break
                    self.answer += data
                    continue
                if self.drip:
                    self.sock.send(self.drip[i % len(self.drip):][:1])
                    i += 1
            else:
                return  # still open at the end: `closed_after` stays None
        except OSError:  # reset or broken pipe: the server closed it
            pass
        finally:
            self.sock.close()
        self.closed_after = time.monotonic() - started


def test_slow_and_half_open_clients_are_dropped_while_another_is_served(bounded: Server) -> None:
    key, _tenant = bounded.key()
    body_head = (f"POST /v1.3/indexes HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n"
                 f"content-type: application/json\r\ncontent-length: 5000\r\n\r\n{{\"index_name\": ").encode()
    clients = (
        [SlowClient(bounded.address, b"", b"") for _ in range(3)]  # connect and say nothing
        + [SlowClient(bounded.address, b"GET /v1.3/indexes HTTP/1.1\r\n", b"X-Pad: aaaaaaaa\r\n")
           for _ in range(3)]  # a head that never ends
        + [SlowClient(bounded.address, body_head, b"a") for _ in range(3)]  # a body that drips
    )
    started = time.monotonic()
    threads = [threading.Thread(target=c.run, args=(started, started + HEAD_TIMEOUT + BODY_GRACE + 8))
               for c in clients]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    with httpx.Client(base_url=bounded.api, headers={"x-api-key": key}, timeout=10) as client:
        ok = client.get("/indexes")
    assert ok.status_code == 200, ok.text
    assert time.monotonic() - t0 < 3.0
    for t in threads:
        t.join()
    for c in clients[:6]:
        assert c.closed_after is not None, "a client without a complete head was never dropped"
        assert HEAD_TIMEOUT - 0.3 < c.closed_after < HEAD_TIMEOUT + 2.0, c.closed_after
    for c in clients[6:]:
        assert c.closed_after is not None, "a dripping body was never cut off"
        assert c.closed_after < BODY_GRACE + 2.5, c.closed_after
        assert c.answer.startswith(b"HTTP/1.1 408"), c.answer[:200]
        assert b'"code": "request_timeout"' in c.answer


def test_the_head_deadline_applies_to_each_request_on_a_kept_alive_connection(bounded: Server) -> None:
    key, _ = bounded.key()
    with socket.create_connection(bounded.address, timeout=10) as sock:
        sock.sendall(f"GET /v1.3/indexes HTTP/1.1\r\nHost: x\r\nx-api-key: {key}\r\n\r\n".encode())
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200"), first[:200]
        sock.sendall(b"GET /v1.3/indexes HTTP/1.1\r\n")  # the next head starts, and never ends
        t0 = time.monotonic()
        rest = b""
        while time.monotonic() - t0 < HEAD_TIMEOUT + 5:
            sock.sendall(b"X-Pad: a\r\n")
            readable, _, _ = select.select([sock], [], [], 0.25)
            if readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                rest += data
        waited = time.monotonic() - t0
    assert waited < HEAD_TIMEOUT + 2.0, "the second head was never timed out"
    assert rest == b""


def test_past_the_connection_cap_a_new_client_gets_503_at_once(tmp_path: Path) -> None:
    server = start(tmp_path, max_connections=4, http_header_timeout_seconds=3.0)
    held: list[socket.socket] = []
    try:
        held = [socket.create_connection(server.address, timeout=5) for _ in range(4)]
        time.sleep(0.2)
        t0 = time.monotonic()
        with httpx.Client(timeout=5) as client:
            refused = client.get(f"{server.url}/health")
        assert time.monotonic() - t0 < 1.0
        assert refused.status_code == 503
        assert refused.json()["code"] == "service_unavailable"
        assert refused.headers["retry-after"] == "1"
        for sock in held:
            sock.close()
        time.sleep(0.3)
        with httpx.Client(timeout=5) as client:
            assert client.get(f"{server.url}/health").status_code == 200
    finally:
        for sock in held:
            sock.close()
        server.stop()


# --- expensive requests: per-tenant cap, bounded analysis pool, fair model turns -----------------------


class SerialLLM:
    """One generation at a time, in the same fair turns as the local llama.cpp model; each holds the model
    until `gate` is open. Records whose turn each generation was."""

    name = "serial"
    context_size = 8192

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.turns = FairScheduler()
        self.order: list[str] = []

    def complete(self, messages: list[ChatMessage], *, max_tokens: int = 512, temperature: float = 0.0,
                 json_schema: dict[str, Any] | None = None, model: str | None = None,
                 on_text: OnText | None = None) -> Generation:
        with self.turns.turn():
            self.order.append(current_tenant())
            self.gate.wait(30)
        if on_text is not None:
            on_text("ok")
        return Generation("ok", "stop", 10, 1, self.name)

    def generate(self, messages: list[ChatMessage], *, max_tokens: int = 512, temperature: float = 0.0,
                 json_schema: dict[str, object] | None = None) -> str:
        return self.complete(messages).text


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_tenant_cap_analysis_pool_and_fair_model_turns(tmp_path: Path) -> None:
    # 4 expensive requests per tenant; 5 analysis threads and no queue, so A's 4 and B's 1 fill the pool.
    server = start(tmp_path, tenant_max_concurrent=4, tenant_queue_seconds=0, analysis_threads=5, analysis_queue=0)
    llm = SerialLLM()
    server.platform.models.register("llm", llm)
    (key_a, a), (key_b, b), (key_c, c) = server.key(), server.key(), server.key()
    videos = {t: insert_video(server.platform, t, duration=20.0,
                              speech=[(0.0, 5.0, "Lava flows down the volcano.")]).id for t in (a, b, c)}

    def analyze(key: str, tenant: str) -> httpx.Response:
        with httpx.Client(base_url=server.api, headers={"x-api-key": key}, timeout=60) as client:
            return client.post("/analyze", json={"video_id": videos[tenant], "prompt": "What happens?",
                                                 "stream": False})

    try:
        with cf.ThreadPoolExecutor(8) as pool:
            a_calls = [pool.submit(analyze, key_a, a) for _ in range(4)]
            # A's first is generating and the other three wait for their turn at the model
            wait_until(lambda: llm.turns.waiting().get(a) == 3)
            a_extra = analyze(key_a, a)
            assert a_extra.status_code == 429, a_extra.text
            assert a_extra.json()["code"] == "too_many_requests"
            assert a_extra.headers.get("retry-after") == "1"

            b_call = pool.submit(analyze, key_b, b)
            wait_until(lambda: llm.turns.waiting().get(b) == 1)
            # The pool is full (5 analyses in flight): another tenant is told so at once, not queued.
            t0 = time.monotonic()
            c_refused = analyze(key_c, c)
            assert c_refused.status_code == 429, c_refused.text
            assert c_refused.json()["code"] == "too_many_requests"
            # Light routes do not wait behind the analyses.
            with httpx.Client(base_url=server.api, headers={"x-api-key": key_c}, timeout=10) as client:
                assert client.get("/indexes").status_code == 200
            assert time.monotonic() - t0 < 1.5
            assert llm.order == [a]  # nothing has moved meanwhile

            llm.gate.set()
            b_done = b_call.result()
            a_done = [f.result() for f in a_calls]
        assert b_done.status_code == 200, b_done.text
        assert all(r.status_code == 200 for r in a_done), [r.text for r in a_done]
        # B was served right after A's running generation, before A's three queued ones.
        assert llm.order == [a, b, a, a, a], llm.order
        # Once the pool has room again, C is served.
        assert analyze(key_c, c).status_code == 200
    finally:
        llm.gate.set()  # a failed assertion must not leave generations waiting
        server.stop()


def test_a_burst_over_the_tenant_cap_waits_for_a_turn_instead_of_failing(tmp_path: Path) -> None:
    server = start(tmp_path, tenant_max_concurrent=1, tenant_queue_seconds=20, analysis_threads=4)
    llm = SerialLLM()
    server.platform.models.register("llm", llm)
    key, tenant = server.key()
    video = insert_video(server.platform, tenant, duration=20.0, speech=[(0.0, 5.0, "Lava flows.")]).id

    def analyze() -> httpx.Response:
        with httpx.Client(base_url=server.api, headers={"x-api-key": key}, timeout=60) as client:
            return client.post("/analyze", json={"video_id": video, "prompt": "What happens?", "stream": False})

    try:
        with cf.ThreadPoolExecutor(3) as pool:
            first = pool.submit(analyze)
            wait_until(lambda: llm.order == [tenant])
            queued = [pool.submit(analyze), pool.submit(analyze)]
            time.sleep(0.5)
            # Over the cap of 1: they wait in the guard (not at the model, not refused).
            assert not any(f.done() for f in queued)
            assert llm.turns.waiting().get(tenant, 0) == 0
            llm.gate.set()
            results = [first.result(), *(f.result() for f in queued)]
        assert [r.status_code for r in results] == [200, 200, 200], [r.text for r in results]
        assert llm.order == [tenant] * 3
    finally:
        llm.gate.set()
        server.stop()


def test_fair_scheduler_serves_the_least_recently_served_tenant_first() -> None:
    turns = FairScheduler()
    order: list[str] = []
    gate = threading.Event()

    def call(tenant: str) -> None:
        with turns.turn(tenant):
            order.append(tenant)
            gate.wait(5)

    first = threading.Thread(target=call, args=("a",))
    first.start()
    wait_until(lambda: order == ["a"])
    waiting = []
    for tenant in ["a", "a", "a", "b", "c", "b"]:
        t = threading.Thread(target=call, args=(tenant,))
        t.start()
        waiting.append(t)
        wait_until(lambda t=tenant, n=sum(1 for w in waiting): sum(turns.waiting().values()) == n)  # type: ignore[misc]
    gate.set()
    for t in [first, *waiting]:
        t.join(10)
    assert order == ["a", "b", "c", "a", "b", "a", "a"], order


# --- the `framedex serve` command itself -------------------------------------------------------------


def test_framedex_serve_drops_silent_connections_and_logs_requests_without_the_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    platform = Platform(Settings(data_dir=data_dir))
    key, info = auth.create_key(platform, "cli")  # made here, so that `serve` has no first-start key to print
    platform.close()
    log_path = tmp_path / "serve.log"
    server = start_serve(data_dir, workers=0, no_auth=False, log_level="info", log=log_path,
                         env={"FRAMEDEX_HTTP_HEADER_TIMEOUT_SECONDS": "1", "FRAMEDEX_WORKERS": "0"})
    try:
        silent = SlowClient(("127.0.0.1", server.port), b"", b"")
        t0 = time.monotonic()
        silent.run(t0, t0 + 6)
        assert silent.closed_after is not None and silent.closed_after < 3.0, silent.closed_after
        ok = httpx.get(f"{server.api}/indexes", headers={"x-api-key": key}, timeout=10)
        assert ok.status_code == 200, ok.text
        time.sleep(0.3)
    finally:
        server.stop(timeout=30)
    log = log_path.read_text()
    assert "GET /v1.3/indexes 200" in log and f"tenant={info.tenant_id}" in log, log[-2000:]
    assert key not in log
    # What the server created (the vector index) is private to its user.
    made = [*(data_dir / "vectors").rglob("*"), data_dir / "vectors"]
    assert made and all(p.stat().st_mode & 0o077 == 0 for p in made), [(p, oct(p.stat().st_mode)) for p in made]
