"""URL downloads against hostile servers on loopback: slow drips, endless bodies, private addresses reached
through DNS rebinding or redirects. Every server here is a real socket server; none is mocked."""

from __future__ import annotations

import contextlib
import gzip
import io
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest

from framedex.config import Settings
from framedex.domain_errors import InvalidParameter
from framedex.ingest import fetch, safe_http
from framedex.ingest.fetch import FetchError, download
from framedex.ingest.safe_http import BlockedAddress, Deadline, guarded_client
from framedex.platform import Platform
from framedex.services import auth
from tests.analysis.conftest import wait_for
from tests.conftest import start_server

HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\n"


@dataclass
class RawServer:
    """A TCP server whose `handle(conn, request_bytes)` writes whatever it likes; it counts connections and
    the bytes it managed to send, and stops its handlers when the test ends."""

    handle: Callable[[socket.socket, bytes, RawServer], None]
    host: str = "127.0.0.1"
    connections: int = 0
    sent: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def send(self, conn: socket.socket, data: bytes) -> None:
        conn.sendall(data)
        self.sent += len(data)


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket, bytes, RawServer], None], host: str = "127.0.0.1"
               ) -> Iterator[RawServer]:
    state = RawServer(handle, host)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen()
    listener.settimeout(0.1)
    state.port = listener.getsockname()[1]

    def serve(conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):  # the client hanging up is the expected ending
            conn.settimeout(5)
            request = conn.recv(65536)
            handle(conn, request, state)

    def accept_loop() -> None:
        while not state.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            state.connections += 1
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        thread.join(5)
        listener.close()


def drip(conn: socket.socket, request: bytes, server: RawServer) -> None:
    """Declares 1000 bytes, sends one every 0.1 s: each read is quick, the whole transfer takes 100 s."""
    server.send(conn, HEAD_200 + b"Content-Length: 1000\r\n\r\n")
    while not server.stop.is_set():
        server.send(conn, b"x")
        time.sleep(0.1)


def silent(conn: socket.socket, request: bytes, server: RawServer) -> None:
    """Accepts and never answers."""
    server.stop.wait(30)


def endless(conn: socket.socket, request: bytes, server: RawServer) -> None:
    """A chunked body that never ends, as fast as the client reads."""
    server.send(conn, HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n")
    block = b"y" * 65536
    frame = b"%x\r\n" % len(block) + block + b"\r\n"
    while not server.stop.is_set():
        server.send(conn, frame)


def answer(body: bytes, extra: bytes = b"") -> Callable[[socket.socket, bytes, RawServer], None]:
    def handle(conn: socket.socket, request: bytes, server: RawServer) -> None:
        server.send(conn, HEAD_200 + extra + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
    return handle


def redirect_to(location: str) -> Callable[[socket.socket, bytes, RawServer], None]:
    def handle(conn: socket.socket, request: bytes, server: RawServer) -> None:
        server.send(conn, b"HTTP/1.1 302 Found\r\nLocation: " + location.encode() +
                    b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    return handle


def fetch_bytes(url: str, *, max_bytes: int = 1 << 20, timeout: float = 5, deadline: float = 5,
                allow_private: bool = True, min_rate: float = 0) -> bytes:
    out = io.BytesIO()
    download(url, out, max_bytes=max_bytes, timeout=timeout, deadline=deadline, allow_private=allow_private,
             min_rate=min_rate)
    return out.getvalue()


def test_loopback_fetch_works_when_private_urls_are_allowed() -> None:
    with raw_server(answer(b"media bytes")) as server:
        assert fetch_bytes(f"http://127.0.0.1:{server.port}/v.mp4") == b"media bytes"
        assert fetch_bytes(f"http://localhost:{server.port}/v.mp4") == b"media bytes"


def test_a_drip_fails_at_the_deadline_not_the_read_timeout() -> None:
    # Every byte arrives well inside the 30 s read timeout; only the 1.5 s wall clock can stop this.
    with raw_server(drip) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match=r"did not finish within 1\.5 s"):
            fetch_bytes(f"http://127.0.0.1:{server.port}/v.mp4", timeout=30, deadline=1.5)
        assert time.monotonic() - started < 3
        assert server.sent > 5  # it was dripping, not refused


def test_a_server_that_never_answers_fails_at_the_deadline() -> None:
    with raw_server(silent) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="did not finish within 1 s"):
            fetch_bytes(f"http://127.0.0.1:{server.port}/v.mp4", timeout=30, deadline=1)
        assert time.monotonic() - started < 2.5


def test_a_drip_below_the_minimum_rate_stops_long_before_the_deadline() -> None:
    with raw_server(drip) as server:
        started = time.monotonic()
        with pytest.raises(FetchError, match="slower than the minimum"):
            fetch_bytes(f"http://127.0.0.1:{server.port}/v.mp4", timeout=0.5, deadline=60, min_rate=1000)
        assert time.monotonic() - started < 3


def test_an_endless_body_is_stopped_at_the_cap() -> None:
    with raw_server(endless) as server:
        out = io.BytesIO()
        with pytest.raises(FetchError, match="larger than 1000000 bytes"):
            download(f"http://127.0.0.1:{server.port}/v.mp4", out, max_bytes=1_000_000, timeout=5, deadline=10,
                     allow_private=True)
        assert len(out.getvalue()) <= 1_000_000


def test_a_declared_oversize_is_refused_before_the_body() -> None:
    with raw_server(answer(b"z" * 5000)) as server:
        out = io.BytesIO()
        with pytest.raises(FetchError, match="larger than 1000 bytes"):
            download(f"http://127.0.0.1:{server.port}/v.mp4", out, max_bytes=1000, timeout=5, deadline=5,
                     allow_private=True)
        assert out.getvalue() == b""


def test_a_small_gzip_body_is_capped_by_what_it_inflates_to() -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)  # about 10 KB on the wire
    with raw_server(answer(bomb, b"Content-Encoding: gzip\r\n")) as server, \
            pytest.raises(FetchError, match="larger than 1000000 bytes"):
        fetch_bytes(f"http://127.0.0.1:{server.port}/v.mp4", max_bytes=1_000_000)


def test_localhost_is_refused_at_connect_time() -> None:
    # No pre-check here: the transport alone must refuse a name that resolves to loopback.
    with raw_server(answer(b"internal")) as server:
        with guarded_client(allow_private=False, deadline=Deadline(5), timeout=5) as client, \
                pytest.raises(BlockedAddress, match=r"127\.0\.0\.1"):
            client.get(f"http://localhost:{server.port}/")
        assert server.connections == 0


@pytest.fixture()
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """`rebind.example` answers a public address to its first lookup and loopback to every later one, the
    way a TTL-0 attacker's name does."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.example":
            lookups.append(host)
            return real("93.184.216.34" if len(lookups) == 1 else "127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def test_dns_rebinding_is_refused_at_connect_time(rebinding_dns: list[str]) -> None:
    with raw_server(answer(b"INTERNAL-ONLY")) as internal:
        with pytest.raises(FetchError) as caught:
            fetch_bytes(f"http://rebind.example:{internal.port}/latest/meta-data/", allow_private=False)
        # The client is told why, not where the name leads (that would map this network's DNS).
        assert str(caught.value) == fetch.REFUSED
        assert isinstance(caught.value.__cause__, BlockedAddress)
        assert caught.value.__cause__.address == "127.0.0.1"
        assert len(rebinding_dns) == 2  # the pre-check saw the public answer, the connect the loopback one
        assert internal.connections == 0


@pytest.fixture()
def hanging_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """`hang.example` gets no answer from the resolver until the test ends (a dead DNS server with long
    retries); every other name resolves as usual."""
    real = socket.getaddrinfo
    release = threading.Event()
    lookups: list[str] = []

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hang.example":
            lookups.append(host)
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield lookups
    release.set()
    # The next test starts with every lookup slot free.
    for thread in threading.enumerate():
        if thread.name == "dns-lookup":
            thread.join(5)


def test_a_hanging_resolver_fails_the_download_at_its_deadline(hanging_dns: list[str]) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="did not finish within 1 s"):
        fetch_bytes("http://hang.example/v.mp4", timeout=30, deadline=1)
    assert time.monotonic() - started < 2
    assert hanging_dns == ["hang.example"]


def test_a_hanging_resolver_fails_the_request_time_check_in_time(hanging_dns: list[str]) -> None:
    started = time.monotonic()
    with pytest.raises(InvalidParameter, match="did not resolve in time"):
        fetch.validate_url("https://hang.example/v.mp4", allow_private=False, deadline=Deadline(0.5))
    assert time.monotonic() - started < 1.5


def test_hung_lookups_hold_a_bounded_number_of_threads(hanging_dns: list[str]) -> None:
    before = threading.active_count()
    for _ in range(safe_http.MAX_LOOKUPS + 4):
        with pytest.raises(safe_http.LookupTimeout):
            safe_http.getaddrinfo_within("hang.example", 80, 0.05)
    assert len(hanging_dns) == safe_http.MAX_LOOKUPS  # the rest found no free slot and were not started
    assert threading.active_count() - before <= safe_http.MAX_LOOKUPS
    # A literal address needs no resolver, so it still answers while every slot is held.
    assert safe_http.getaddrinfo_within("127.0.0.1", 80, 0.05)


@pytest.fixture()
def public_127_0_0_2(monkeypatch: pytest.MonkeyPatch) -> str:
    """Treat 127.0.0.2 as a public address, so a loopback server can stand in for a public one that
    redirects; 127.0.0.1 stays private."""
    real = safe_http.is_public_address

    def is_public(text: str) -> bool:
        return text == "127.0.0.2" or real(text)

    monkeypatch.setattr(safe_http, "is_public_address", is_public)
    monkeypatch.setattr(fetch, "is_public_address", is_public)
    return "127.0.0.2"


def test_a_public_server_is_reachable_when_private_urls_are_refused(public_127_0_0_2: str) -> None:
    with raw_server(answer(b"public media"), host=public_127_0_0_2) as server:
        assert fetch_bytes(f"http://{public_127_0_0_2}:{server.port}/v.mp4", allow_private=False) == b"public media"


def test_a_redirect_to_a_private_address_is_refused(public_127_0_0_2: str) -> None:
    with raw_server(answer(b"INTERNAL-ONLY")) as internal, \
            raw_server(redirect_to(f"http://127.0.0.1:{internal.port}/secret"), host=public_127_0_0_2) as public:
        with pytest.raises(InvalidParameter, match="private or local address"):
            fetch_bytes(f"http://{public_127_0_0_2}:{public.port}/v.mp4", allow_private=False)
        assert public.connections == 1 and internal.connections == 0


def test_a_redirect_to_a_rebinding_name_is_refused_at_connect_time(public_127_0_0_2: str,
                                                                   rebinding_dns: list[str]) -> None:
    with raw_server(answer(b"INTERNAL-ONLY")) as internal, \
            raw_server(redirect_to(f"http://rebind.example:{internal.port}/secret"), host=public_127_0_0_2) as public:
        with pytest.raises(FetchError, match="refused"):
            fetch_bytes(f"http://{public_127_0_0_2}:{public.port}/v.mp4", allow_private=False)
        assert public.connections == 1 and internal.connections == 0 and len(rebinding_dns) == 2


def test_redirects_are_followed_and_counted() -> None:
    with raw_server(answer(b"final")) as final, \
            raw_server(redirect_to(f"http://127.0.0.1:{final.port}/v.mp4")) as hop:
        assert fetch_bytes(f"http://127.0.0.1:{hop.port}/v.mp4") == b"final"
    with raw_server(redirect_to("/again")) as loop:
        with pytest.raises(FetchError, match="too many redirects"):
            fetch_bytes(f"http://127.0.0.1:{loop.port}/v.mp4")
        assert loop.connections == fetch.MAX_REDIRECTS + 1


def test_an_unreachable_port_stays_a_retryable_network_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(httpx.ConnectError) as caught:
        fetch_bytes(f"http://127.0.0.1:{port}/v.mp4")
    assert not isinstance(caught.value, BlockedAddress)


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={name}",
                    "-addext", f"subjectAltName=DNS:{name}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


@contextlib.contextmanager
def tls_server(cert: Path, key: Path, host: str) -> Iterator[tuple[int, list[str | None]]]:
    """An HTTPS server on `host` that records the SNI name each client sent."""
    seen_sni: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def note_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        seen_sni.append(name)

    context.sni_callback = note_sni

    listener = socket.create_server((host, 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(65536)
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen_sni
    finally:
        stop.set()
        thread.join(5)
        listener.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make certificates")
def test_tls_verifies_the_hostname_while_connecting_to_the_checked_address(
        tmp_path: Path, public_127_0_0_2: str, monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        return real(public_127_0_0_2 if host in ("media.example", "other.example") else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    cert, key = _self_signed(tmp_path, "media.example")
    trust = ssl.create_default_context(cafile=str(cert))
    with tls_server(cert, key, public_127_0_0_2) as (port, seen_sni):
        with guarded_client(allow_private=False, deadline=Deadline(5), timeout=5, ssl_context=trust) as client:
            response = client.get(f"https://media.example:{port}/v.mp4")
        assert response.text == "secure" and seen_sni == ["media.example"]
        # Same server, same address, another name: the certificate does not match it, so no exchange.
        with guarded_client(allow_private=False, deadline=Deadline(5), timeout=5, ssl_context=trust) as client, \
                pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            client.get(f"https://other.example:{port}/v.mp4")


def test_a_task_from_a_dripping_url_fails_with_the_reason(tmp_path: Path) -> None:
    """End to end: the worker gives up at the deadline, the task says why, and the worker takes the next job."""
    settings = Settings(data_dir=tmp_path, workers=1, allow_private_urls=True, worker_poll_seconds=0.1,
                        url_download_timeout_seconds=30, url_download_deadline_seconds=1.5)
    server, thread, url = start_server(settings)
    platform: Platform = cast(Any, server.config.app).state.platform  # the app's own, not a second one
    key, _ = auth.create_key(platform, "fetch")
    try:
        with raw_server(drip) as dripping, raw_server(answer(b"not a video")) as junk, \
                httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": key}, timeout=30) as client:
            index_id = client.post("/indexes", json={"index_name": "drip", "models": [
                {"model_name": "marengo3.0", "model_options": ["visual"]}]}).json()["_id"]
            tasks = [client.post("/tasks", data={"index_id": index_id, "video_url": f"{source}/v.mp4"},
                                 files={"_": ("", b"")}).json()["_id"] for source in
                     (f"http://127.0.0.1:{dripping.port}", f"http://127.0.0.1:{junk.port}")]
            started = time.monotonic()

            def finished(task_id: str) -> dict[str, Any] | None:
                task: dict[str, Any] = client.get(f"/tasks/{task_id}").json()
                return task if task["status"] in ("ready", "failed") else None

            first = wait_for(lambda: finished(tasks[0]), 20)
            assert first["status"] == "failed"
            assert "did not finish within 1.5 s" in first["error"]["message"], first["error"]
            second = wait_for(lambda: finished(tasks[1]), 20)  # the worker was free for it
            assert second["status"] == "failed" and "did not finish" not in second["error"]["message"]
            assert time.monotonic() - started < 15
    finally:
        server.should_exit = True
        thread.join(30)
