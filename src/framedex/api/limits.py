"""The request guard: every request is authenticated and bounded before the app reads a byte of its body.

One ASGI middleware (`RequestGuard`), in front of FastAPI's routing, does in order:

1. `--no-auth` mode (loopback only): refuse a `Host` that is not loopback (DNS rebinding) and a cross-site
   `Origin` (CSRF from a web page).
2. Authenticate from the `x-api-key` header alone (401 before any body is read; the tenant is left in the
   scope for `deps.get_tenant`). The signed thumbnail and chunk-PUT URLs, the docs and health probes
   carry no key.
3. Cap the body per route (`ROUTES`): Content-Length is checked up front; a chunked body is counted while
   it streams, and once it passes the cap the answer is 413 in the API's envelope, whatever the app made
   of the cut-off body.
4. A JSON body is read here (within its cap), checked by `json_limits` (valid JSON, finite numbers, depth,
   sizes) and handed on; the app then parses a body that is known to be sane.
5. Every body has a deadline (`_BodyClock`): a grace period plus one second per `http_min_body_rate` bytes
   received, so a client that drips a body is answered 408 and dropped however large its declared size.
6. Per-key rate limits of the routes the real API rate-limits (`rate_limits`, counted in the metadata store):
   past one, 429 `too_many_requests` with `Retry-After`; every answer of those routes has `X-Ratelimit-*`.
7. Expensive routes (analysis, search, embed: `RoutePolicy.heavy`) are capped per tenant
   (`tenant_max_concurrent` in flight, waiting up to `tenant_queue_seconds` for a turn); past it the answer
   is 429 `too_many_requests` before the body is read, so one tenant cannot take every thread, model turn
   and connection of the server.
8. `Idempotency-Key` on the routes the real API reads it (`idempotency`): once the JSON body is read, a
   repeat of the same request gets the first answer again instead of running twice.
9. An unexpected error is a 500 in the envelope that keeps the connection open (Starlette's own handler
   re-raises, and uvicorn then drops the kept-alive connection).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from framedex.api import idempotency, json_limits, rate_limits
from framedex.config import Settings
from framedex.domain_errors import ServiceError

log = logging.getLogger("framedex.api")

API_PREFIX = "/v1.3"
TENANT_SCOPE_KEY = "framedex.tenant"
MiB = 1024**2

# A body this small is left for the server to drain after an early answer; a larger (or chunked) one gets
# `connection: close` instead, so that nothing more of it is read.
_DRAIN_BYTES = 64 * 1024
# JSON bodies at most this size are checked on the event loop; larger ones in a worker thread.
_INLINE_JSON_BYTES = 256 * 1024


T = TypeVar("T")


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class TooManyRequests(ServiceError):
    status = 429
    code = "too_many_requests"


_SLOW_BODY = "The request body arrived too slowly."


@dataclass(frozen=True)
class RoutePolicy:
    """What one route accepts. `body`: the byte cap of a non-JSON body (it may depend on the settings);
    `json`: the byte cap of a JSON body; `auth`: whether an API key is required; `raw`: a body streamed to
    the handler as is, never parsed as JSON; `nested_413`: the SDK expects `{"error": {...}}` on a 413."""

    body: Callable[[Settings], int]
    json: int = 4 * MiB
    auth: bool = True
    raw: bool = False
    too_large_code: str = "payload_too_large"
    nested_413: bool = False
    heavy: bool = False


def _fixed(n: int) -> Callable[[Settings], int]:
    return lambda _settings: n


def _chunk_cap(settings: Settings) -> int:
    from framedex.services.uploads import MAX_CHUNKS

    return max(settings.multipart_chunk_bytes, -(-settings.max_multipart_bytes // MAX_CHUNKS)) + 64 * 1024


DEFAULT = RoutePolicy(body=_fixed(4 * MiB))
_MEDIA_JSON = 64 * MiB  # base64 media in JSON: up to 36 MB decoded (embed-v2), 30 MB (analyze)

# (method, path without the /v1.3 prefix) -> policy; the first match wins, DEFAULT otherwise.
ROUTES: list[tuple[str, re.Pattern[str], RoutePolicy]] = [
    ("POST", re.compile(r"/tasks"), RoutePolicy(body=lambda s: s.max_upload_bytes + MiB,
                                                too_large_code="video_filesize_too_large")),
    ("POST", re.compile(r"/embed/tasks"), RoutePolicy(body=lambda s: s.max_upload_bytes + MiB,
                                                      too_large_code="video_filesize_too_large")),
    ("POST", re.compile(r"/assets"), RoutePolicy(body=lambda s: s.max_asset_upload_bytes + MiB,
                                                 too_large_code="video_filesize_too_large")),
    ("PUT", re.compile(r"/uploads/[^/]+/chunks/[^/]+"), RoutePolicy(body=_chunk_cap, auth=False, raw=True,
                                                                    too_large_code="chunk_too_large")),
    ("POST", re.compile(r"/search"), RoutePolicy(body=_fixed(10 * 32 * MiB + MiB), heavy=True)),  # 10 images
    ("POST", re.compile(r"/embed"), RoutePolicy(body=_fixed(2 * 32 * MiB + MiB), heavy=True)),  # image, audio
    ("POST", re.compile(r"/embed-v2"), RoutePolicy(body=_fixed(_MEDIA_JSON), json=_MEDIA_JSON, nested_413=True,
                                                   heavy=True)),
    ("POST", re.compile(r"/embed-v2/tasks"), RoutePolicy(body=_fixed(_MEDIA_JSON), json=_MEDIA_JSON,
                                                         nested_413=True)),
    ("POST", re.compile(r"/(analyze|generate|summarize|gist)"), RoutePolicy(body=_fixed(_MEDIA_JSON),
                                                                             json=_MEDIA_JSON, heavy=True)),
    ("POST", re.compile(r"/analyze/tasks"), RoutePolicy(body=_fixed(_MEDIA_JSON), json=_MEDIA_JSON)),
    ("POST", re.compile(r"/analyze/batches"), RoutePolicy(body=_fixed(16 * MiB), json=16 * MiB)),
    ("*", re.compile(r"/thumbnails/.*"), RoutePolicy(body=_fixed(64 * 1024), auth=False)),
    # The original's bytes: a signed URL or an x-api-key header, which the route itself checks.
    ("*", re.compile(r"/media/[^/]+/original"), RoutePolicy(body=_fixed(64 * 1024), auth=False)),
    # HLS playlists, segments and thumbnails: the signed prefix is the authorisation (routers/streaming.py).
    ("*", re.compile(r"/streams/.*"), RoutePolicy(body=_fixed(64 * 1024), auth=False)),
    # The web playground's page and assets: the API key is typed into the page, never needed to load it.
    ("*", re.compile(r"/|/static/.*"), RoutePolicy(body=_fixed(64 * 1024), auth=False)),
    ("*", re.compile(r"/(docs|redoc)(/.*)?|/openapi\.json|/(health|healthz|ready|readyz|livez)"),
     RoutePolicy(body=_fixed(64 * 1024), auth=False)),
]

# In --no-auth mode only these Host names are served (any port); `framedex.inprocess` is the in-process
# client's origin, which no DNS name can take.
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]", "framedex.inprocess"}


def route_path(path: str) -> str:
    """A request path without the API prefix and trailing slashes, as `ROUTES` and the rate limits match it."""
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        path = path[len(API_PREFIX):] or "/"
    return path.rstrip("/") or "/"


def policy_for(method: str, path: str) -> RoutePolicy:
    path = route_path(path)
    for want, pattern, policy in ROUTES:
        if (want == "*" or want == method) and pattern.fullmatch(path):
            return policy
    return DEFAULT


def _host_name(value: str) -> str:
    """`host[:port]` (or `[v6]:port`, or a URL's netloc) -> the lower-cased host name."""
    value = value.strip().lower()
    if "://" in value:
        value = value.split("://", 1)[1].split("/", 1)[0]
    if value.startswith("["):
        return value[: value.find("]") + 1] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def _is_local_host(name: str, settings: Settings) -> bool:
    if name in _LOCAL_HOSTS or re.fullmatch(r"127(\.\d{1,3}){3}", name):
        return True
    return bool(settings.public_url) and name == _host_name(str(settings.public_url))


def envelope(status: int, code: str, message: str, *, nested: bool = False) -> bytes:
    body: dict[str, Any] = {"code": code, "message": message}
    if nested:  # the SDK parses this status as {"error": {...}}; keep the flat fields for everyone else
        body["error"] = {"code": code, "message": message}
    return json.dumps(body).encode()


async def send_error(send: Send, status: int, code: str, message: str, *, close: bool = False,
                     nested: bool = False, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = envelope(status, code, message, nested=nested)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *(headers or [])]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """See the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._limiter: anyio.CapacityLimiter | None = None
        # tenant -> expensive requests in flight; only touched on the event loop, so no lock
        self._inflight: dict[str, int] = {}
        self._turns: dict[str, anyio.Event] = {}  # set when one of the tenant's slots frees

    def _threads(self) -> anyio.CapacityLimiter:
        """Threads for the guard's own blocking work (key lookups, large JSON checks), apart from the request
        threadpool, so that requests stuck in slow handlers cannot hold up the 401s and 400s of others."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(8)
        return self._limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._guard(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise  # too late for an error response: the server closes the connection
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            await send_error(send, 500, "internal_error", "An internal error occurred. See the server log.")

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        platform = getattr(getattr(scope.get("app"), "state", None), "platform", None)
        if platform is None:  # not started (or not ours): nothing to check against
            await self.app(scope, receive, send)
            return
        settings: Settings = platform.settings
        method = str(scope.get("method", "GET")).upper()
        policy = policy_for(method, str(scope.get("path", "/")))
        headers = _Headers(scope)
        declared = headers.content_length()
        chunked = "chunked" in headers.get("transfer-encoding").lower()
        has_body = chunked or (declared or 0) > 0
        big_body = chunked or (declared or 0) > _DRAIN_BYTES

        if declared == -1:
            await send_error(send, 400, "parameter_invalid", "The Content-Length header is invalid.", close=True)
            return
        if not settings.auth_enabled:
            refusal = self._local_only(headers, settings)
            if refusal:
                await send_error(send, 403, "forbidden", refusal, close=big_body)
                return
        tenant: str | None = None
        if policy.auth:
            tenant = await self._authenticate(platform, headers, send, close=big_body, limiter=self._threads())
            if tenant is None:
                return
            scope[TENANT_SCOPE_KEY] = tenant
            rate = rate_limits.limit_for(method, route_path(str(scope.get("path", "/"))), settings)
            if rate is not None:
                who = rate_limits.key_identity(headers.get("x-api-key") if settings.auth_enabled else "", tenant)
                verdict = await anyio.to_thread.run_sync(rate_limits.check, platform.store, who, rate,
                                                         limiter=self._threads())
                if not verdict.allowed:
                    retry = verdict.retry_after()
                    await send_error(send, 429, TooManyRequests.code,
                                     f"Too many requests on this endpoint for this API key (at most {rate.limit} "
                                     f"per {rate.window} s). Retry in {retry} s.", close=big_body,
                                     headers=[(b"retry-after", str(retry).encode()), *verdict.headers()])
                    return
                send = _with_headers(send, verdict.headers())
        if not (policy.heavy and tenant is not None):
            await self._bounded(scope, receive, send, policy, settings, headers, declared, has_body)
            return
        if not await self._enter(tenant, settings):
            cap = settings.tenant_max_concurrent
            await send_error(send, 429, TooManyRequests.code,
                             f"Too many requests in progress for this account (at most {cap} at once on this "
                             f"endpoint family, and {settings.tenant_queue_seconds:g} s of waiting for a turn). "
                             f"Retry when one has finished.", close=big_body,
                             headers=[(b"retry-after", b"1")])
            return
        try:
            await self._bounded(scope, receive, send, policy, settings, headers, declared, has_body)
        finally:
            self._leave(tenant)

    async def _enter(self, tenant: str, settings: Settings) -> bool:
        """Take one of the tenant's in-flight slots, waiting up to `tenant_queue_seconds` for one: a burst of
        searches from one client queues briefly instead of failing, while a flood is still answered 429."""
        deadline = time.monotonic() + settings.tenant_queue_seconds
        while self._inflight.get(tenant, 0) >= settings.tenant_max_concurrent:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            turn = self._turns.setdefault(tenant, anyio.Event())
            with anyio.move_on_after(left):
                await turn.wait()
        self._inflight[tenant] = self._inflight.get(tenant, 0) + 1
        return True

    def _leave(self, tenant: str) -> None:
        left = self._inflight[tenant] - 1
        if left:
            self._inflight[tenant] = left
        else:
            del self._inflight[tenant]
        turn = self._turns.pop(tenant, None)
        if turn is not None:
            turn.set()  # every waiter re-checks; those that lose the race wait on the next event

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, policy: RoutePolicy, settings: Settings,
                       headers: _Headers, declared: int | None, has_body: bool) -> None:
        """Cap the body's size and time, then call the app."""
        clock = _BodyClock(settings, receive)
        receive = clock.receive
        is_json = has_body and not policy.raw and headers.is_json()
        cap = min(policy.json, policy.body(settings)) if is_json else policy.body(settings)
        too_large = (f"The request body exceeds the limit of {cap} bytes for this endpoint.",
                     policy.too_large_code)
        if declared is not None and declared > cap:
            await send_error(send, 413, too_large[1], too_large[0], close=True, nested=policy.nested_413)
            return
        if is_json:
            await self._json(scope, receive, send, cap, too_large, policy)
            return
        await self._streamed(scope, receive, send, cap, too_large, policy)

    @staticmethod
    def _local_only(headers: _Headers, settings: Settings) -> str | None:
        host = _host_name(headers.get("host"))
        if not _is_local_host(host, settings):
            return (f"This server runs without API keys and answers only requests addressed to localhost, "
                    f"not {host[:100]!r}.")
        origin = headers.get("origin")
        if origin and origin != "null" and not _is_local_host(_host_name(origin), settings):
            return "Cross-site requests are refused by a server that runs without API keys."
        if origin == "null" or headers.get("sec-fetch-site").lower() == "cross-site":
            return "Cross-site requests are refused by a server that runs without API keys."
        return None

    @staticmethod
    async def _authenticate(platform: Any, headers: _Headers, send: Send, *, close: bool,
                            limiter: anyio.CapacityLimiter) -> str | None:
        from framedex.services import auth

        if not platform.settings.auth_enabled:
            return auth.LOCAL_TENANT_ID
        key = headers.get("x-api-key")
        try:
            if not key:
                auth.authenticate(platform, None)  # raises the 401 with its message
            tenant: str = await anyio.to_thread.run_sync(auth.authenticate, platform, key, limiter=limiter)
            return tenant
        except ServiceError as exc:
            await send_error(send, exc.status, exc.code, exc.message, close=close)
            return None

    async def _json(self, scope: Scope, receive: Receive, send: Send, cap: int, too_large: tuple[str, str],
                    policy: RoutePolicy) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            try:
                message = await receive()
            except BodyTimeout:
                await send_error(send, 408, "request_timeout", _SLOW_BODY, close=True)
                return
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await send_error(send, 413, too_large[1], too_large[0], close=True, nested=policy.nested_413)
                return
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        try:
            if not body.strip():
                pass  # no body after all: the route says what is missing
            elif len(body) <= _INLINE_JSON_BYTES:
                json_limits.loads(body)
            else:
                await anyio.to_thread.run_sync(json_limits.loads, body, limiter=self._threads())
        except ServiceError as exc:
            await send_error(send, exc.status, exc.code, exc.message)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        key = _Headers(scope).get(idempotency.HEADER).strip()
        method = str(scope.get("method", "GET")).upper()
        route = route_path(str(scope.get("path", "/")))
        if key and scope.get(TENANT_SCOPE_KEY) and idempotency.applies(method, route):
            await self._idempotent(scope, replay, send, key, f"{method} {route}", body)
            return
        await self.app(scope, replay, send)

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, key: str, route: str,
                          body: bytes) -> None:
        """Run the request once per `Idempotency-Key` (see `idempotency`): replay the kept answer of the same
        request, refuse the key's reuse for another one."""
        problem = idempotency.key_problem(key)
        if problem:
            await send_error(send, 400, "parameter_invalid", problem)
            return
        platform = scope["app"].state.platform
        store = platform.store
        tenant = str(scope[TENANT_SCOPE_KEY])

        def take() -> idempotency.Claim:
            return idempotency.claim(store, tenant, key, route, idempotency.fingerprint(body),
                                     platform.settings.idempotency_ttl_seconds)

        claimed = await anyio.to_thread.run_sync(take, limiter=self._threads())
        if claimed.outcome == "replay":
            await send({"type": "http.response.start", "status": claimed.status,
                        "headers": [(b"content-type", claimed.content_type.encode("latin-1")),
                                    (b"content-length", str(len(claimed.body)).encode()),
                                    (b"idempotent-replayed", b"true")]})
            await send({"type": "http.response.body", "body": claimed.body})
            return
        if claimed.outcome == "mismatch":
            await send_error(send, 422, "idempotency_key_mismatch",
                             "This Idempotency-Key was already used with a different request. Use a new key for "
                             "a new request.")
            return
        if claimed.outcome == "in_progress":
            await send_error(send, 409, "idempotency_key_in_use",
                             "A request with this Idempotency-Key is still in progress. Retry when it has "
                             "finished to get its answer.", headers=[(b"retry-after", b"1")])
            return
        status = 0
        content_type = ""
        chunks: list[bytes] = []
        size = 0
        settled = False

        async def keeping_send(message: Message) -> None:
            nonlocal status, content_type, size, settled
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if bytes(name).lower() == b"content-type":
                        content_type = bytes(value).decode("latin-1")
            elif message["type"] == "http.response.body" and not settled:
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= idempotency.MAX_STORED_BODY:
                    chunks.append(chunk)
                if not message.get("more_body", False):
                    # Keep the answer before the client has it: a retry it sends at once is then a replay.
                    settled = True
                    if 200 <= status < 300 and size <= idempotency.MAX_STORED_BODY:
                        await anyio.to_thread.run_sync(idempotency.finish, store, claimed, status,
                                                       content_type or "application/json", b"".join(chunks),
                                                       limiter=self._threads())
                    else:
                        await anyio.to_thread.run_sync(idempotency.release, store, claimed,
                                                       limiter=self._threads())
            await send(message)

        try:
            await self.app(scope, receive, keeping_send)
        finally:
            if not settled:  # the app failed or the client left: a retry with the key must run
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(idempotency.release, store, claimed, limiter=self._threads())

    async def _streamed(self, scope: Scope, receive: Receive, send: Send, cap: int, too_large: tuple[str, str],
                        policy: RoutePolicy) -> None:
        seen = 0
        # the answer that replaces the app's once the body was cut off: (status, code, message)
        failure: tuple[int, str, str] | None = None
        replaced = False

        async def counting_receive() -> Message:
            nonlocal seen, failure
            try:
                message = await receive()
            except BodyTimeout:
                failure = (408, "request_timeout", _SLOW_BODY)
                raise
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    failure = (413, too_large[1], too_large[0])
                    raise BodyTooLarge
            return message

        async def replace() -> None:
            nonlocal replaced
            if failure is not None and not replaced:
                replaced = True
                await send_error(send, failure[0], failure[1], failure[2], close=True,
                                 nested=policy.nested_413 and failure[0] == 413)

        async def guarded_send(message: Message) -> None:
            # Whatever the app answers to a body cut off at the cap or the deadline (FastAPI says 400 "error
            # parsing the body"), the client gets the 413 or 408.
            if failure is not None:
                await replace()
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if failure is None:
                raise
            await replace()


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """`send` that adds `extra` to the response's headers."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)

    return sending


class _BodyClock:
    """The body deadline of one request: `http_body_grace_seconds`, plus one second per `http_min_body_rate`
    bytes received. Once the body is complete, `receive` waits without a deadline (a streaming response
    listens on it for the client's disconnect)."""

    def __init__(self, settings: Settings, receive: Receive) -> None:
        self._receive = receive
        self._grace = settings.http_body_grace_seconds
        self._rate = float(settings.http_min_body_rate)
        self._start = time.monotonic()
        self._received = 0
        self._done = False

    async def receive(self) -> Message:
        if self._done:
            return await self._receive()
        remaining = self._start + self._grace + self._received / self._rate - time.monotonic()
        with anyio.move_on_after(max(remaining, 0.0)) as scope:
            message = await self._receive()
        if scope.cancelled_caught:
            raise BodyTimeout
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            self._done = not message.get("more_body", False)
        else:
            self._done = True
        return message


class WorkPool:
    """A bounded pool for slow blocking work (sync analysis): its own threads, apart from the request
    threadpool that every other route and dependency shares, and a bounded queue. When `threads + queue`
    calls are in flight, the next one is refused with 429 instead of waiting on (and pinning) a thread."""

    def __init__(self, name: str, threads: int, queue: int) -> None:
        self.name = name
        self.threads = threads
        self.queue = queue
        self.pending = 0
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:  # made on the event loop, at first use
            self._limiter = anyio.CapacityLimiter(self.threads)
        return self._limiter

    def admit(self) -> None:
        """Count one call in (release with `leave`), or raise the 429 when the pool and its queue are full."""
        if self.pending >= self.threads + self.queue:
            raise TooManyRequests(f"The server is busy with other {self.name} requests. Retry shortly.")
        self.pending += 1

    def leave(self) -> None:
        self.pending -= 1

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` on one of the pool's threads, once admitted."""
        self.admit()
        try:
            return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
        finally:
            self.leave()


class _Headers:
    def __init__(self, scope: Scope) -> None:
        self._items: dict[bytes, bytes] = {}
        for name, value in scope.get("headers") or []:
            self._items.setdefault(bytes(name).lower(), bytes(value))

    def get(self, name: str) -> str:
        return self._items.get(name.encode(), b"").decode("latin-1")

    def content_length(self) -> int | None:
        """None when absent, -1 when malformed."""
        raw = self._items.get(b"content-length")
        if raw is None:
            return None
        raw = raw.strip()
        return int(raw) if raw.isdigit() and len(raw) <= 18 else -1

    def is_json(self) -> bool:
        """Whether FastAPI would parse the body as JSON: a JSON media type, or none at all."""
        kind = self.get("content-type").split(";", 1)[0].strip().lower()
        return not kind or kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
