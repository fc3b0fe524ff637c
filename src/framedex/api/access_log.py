"""One access-log line per request, for auditing and for finding slow or failing calls.

    GET /v1.3/indexes 200 3.1ms tenant=<tenant id> client=127.0.0.1

The line names the tenant that `RequestGuard` authenticated (`-` when none: a 401, a probe, a signed
URL), never the API key, and logs the path only: query strings carry signatures and tokens (thumbnail
and chunk upload URLs), so they are never written. Control characters and quotes in the path are
escaped, so that a crafted path cannot forge log lines. A request whose client went away before the
answer began is logged with status `-`.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framedex.api.limits import TENANT_SCOPE_KEY

log = logging.getLogger("framedex.access")

_MAX_PATH = 300


def _clean(path: str) -> str:
    """The path with anything unprintable (and spaces, so fields stay split by spaces) escaped."""
    out = []
    for ch in path[:_MAX_PATH]:
        code = ord(ch)
        if code <= 0x20 or code == 0x7F or ch in '"\\' or (0x80 <= code < 0xA0) or ch in "\u2028\u2029":
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    if len(path) > _MAX_PATH:
        out.append("…")
    return "".join(out)


class AccessLog:
    """Outermost ASGI middleware: times each HTTP request and logs it once its answer is complete."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            if log.isEnabledFor(logging.INFO):
                client = scope.get("client")
                tenant = scope.get(TENANT_SCOPE_KEY)
                log.info("%s %s %s %.1fms tenant=%s client=%s", _clean(str(scope.get("method", "-"))),
                         _clean(str(scope.get("path", ""))), status if status is not None else "-",
                         (time.perf_counter() - started) * 1000.0, tenant if isinstance(tenant, str) else "-",
                         client[0] if client else "-")
