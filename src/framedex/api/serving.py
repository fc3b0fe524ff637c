"""How the API is put on a socket: uvicorn with bounds on slow and half-open clients.

uvicorn alone times out only *idle* kept-alive connections: a connection that sends half a request head
and then a byte now and then (slowloris) is held for ever, and enough of them use up the file descriptors
(security review #15). Its `limit_concurrency` does not help: it is checked only once a whole head has
arrived, so those connections are never refused, and its 503 is plain text.

`BoundedH11Protocol` therefore adds, per connection:

* a head deadline: from a connection's first byte (or the first byte after a finished response) its
  request head must be complete within `http_header_timeout_seconds`, else the connection is closed;
* a connection cap: past `max_connections` open connections, a new one is answered 503 in the API's
  envelope and closed at once, before it can hold anything.

Bodies are bounded by the request guard (`limits.RequestGuard`, a minimum rate after a grace period), and
the head's size by h11 (`h11_max_incomplete_event_size`). h11 is used rather than httptools so that the
head size bound is explicit and the same everywhere.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from framedex.config import Settings

log = logging.getLogger("framedex.api")

MAX_HEAD_BYTES = 64 * 1024  # request line + headers; h11 answers 400 and closes past this


def _busy_response() -> bytes:
    body = json.dumps({"code": "service_unavailable",
                       "message": "The server has too many open connections. Retry shortly."}).encode()
    head = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
            b"connection: close\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n")
    return head + body


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request-head deadline and a connection cap (see the module docstring).
    `serving_config` makes a subclass with the settings' values."""

    header_timeout: float = 10.0
    max_connections: int = 1000

    _head_timer: asyncio.TimerHandle | None = None
    _refused: bool = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            # Refused before it is counted: it never reaches the app and holds nothing once closed.
            self._refused = True
            self.transport = transport
            log.warning("refused a connection: %d open connections", len(self.connections))
            transport.write(_busy_response())
            transport.close()
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._awaiting_head() and self._head_timer is None:
            self._arm_head_timer()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        # (Between requests uvicorn's keep-alive timer closes an idle connection; it is cancelled by any byte,
        # which is why the head timer starts here.)
        if not self._awaiting_head():
            self._cancel_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        if self._refused:
            return
        super().connection_lost(exc)

    def _awaiting_head(self) -> bool:
        """No request is in progress: the connection is new or idle, or a head is partly received."""
        return self.cycle is None or self.cycle.response_complete

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._awaiting_head() and not self.transport.is_closing():
            log.info("closed a connection from %s: no complete request head in %.0f s",
                     _client(self.client), self.header_timeout)
            self.transport.close()


def _client(addr: Any) -> str:
    return str(addr[0]) if addr else "-"


def serving_config(app: Any, settings: Settings, *, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """The uvicorn configuration `framedex serve` runs `app` with (tests use it too)."""
    protocol = type("FramedexH11Protocol", (BoundedH11Protocol,), {
        "header_timeout": settings.http_header_timeout_seconds,
        "max_connections": settings.max_connections,
    })
    return uvicorn.Config(
        app, host=host, port=port, log_level=log_level, http=protocol,
        timeout_keep_alive=settings.http_keep_alive_seconds,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        # One compact line per request comes from `access_log.AccessLog` (with the tenant, without the query).
        access_log=False,
        server_header=False,  # no software banner for scanners
        # Let in-flight requests finish on shutdown, but not for ever.
        timeout_graceful_shutdown=30,
    )
