"""Run the framedex ASGI app inside the client's process (``TwelveLabs(data_dir=...)``).

The app runs on a private event loop in a daemon thread, so the same machinery serves the sync client
(which has no loop) and the async client (whatever loop, or loops, the caller uses). The app's lifespan
(startup: open the data directory, start the ingest workers; shutdown: stop them) runs when the runner
starts and when it is closed, and at interpreter exit for a runner nobody closed.

Unlike ``httpx.ASGITransport``, request bodies are streamed into the app (large uploads are not held in
memory twice) and response bodies are streamed out (NDJSON analysis streams arrive as they are produced).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("framedex.client")

Message = MutableMapping[str, Any]
ASGIApp = Callable[..., Any]

INPROCESS_ORIGIN = "http://framedex.inprocess"
_END = object()
_LIFESPAN_TIMEOUT = 60.0


def build_app(data_dir: str | os.PathLike[str], *, auth_enabled: bool, settings: Any = None) -> ASGIApp:
    """Import the server lazily and build its app for ``data_dir`` (or from a ready ``Settings``)."""
    try:
        from framedex.api.app import create_app
        from framedex.config import Settings
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            f"In-process mode (data_dir=...) needs the framedex server installed with its dependencies: {exc}"
        ) from exc
    if settings is None:
        path = Path(os.fspath(data_dir))
        path.mkdir(parents=True, exist_ok=True)
        settings = Settings(data_dir=path, auth_enabled=auth_enabled)
    return create_app(settings, start_workers=True)


class _State:
    """What the finaliser needs, kept apart from the runner so the runner can be garbage-collected."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="framedex-inprocess", daemon=True)
        self.lifespan_receive: asyncio.Queue[Message] | None = None
        self.lifespan_task: asyncio.Task[Any] | None = None
        self.shutdown_done: asyncio.Future[None] | None = None
        self.closed = False
        self.lock = threading.Lock()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def shutdown(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
        if self.loop.is_running():
            try:
                fut = asyncio.run_coroutine_threadsafe(self._lifespan_shutdown(), self.loop)
                fut.result(timeout=_LIFESPAN_TIMEOUT + 5)
            except Exception:  # pragma: no cover - best effort at exit
                log.exception("in-process app shutdown failed")
            self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=10)

    async def _lifespan_shutdown(self) -> None:
        if self.lifespan_receive is None or self.lifespan_task is None or self.lifespan_task.done():
            return
        assert self.shutdown_done is not None
        await self.lifespan_receive.put({"type": "lifespan.shutdown"})
        done, _ = await asyncio.wait(
            {self.shutdown_done, self.lifespan_task},
            timeout=_LIFESPAN_TIMEOUT,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self.shutdown_done in done:
            self.shutdown_done.result()
        # let the lifespan coroutine return after it signalled completion
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self.lifespan_task), timeout=5)


class ASGIRunner:
    """Owns the private loop, the app and its lifespan; serves requests from any thread or loop."""

    def __init__(self, app_factory: Callable[[], ASGIApp]) -> None:
        self._state = _State()
        self._state.thread.start()
        self._finalizer = weakref.finalize(self, self._state.shutdown)
        self.lifespan_state: dict[str, Any] = {}
        try:
            self.app: ASGIApp = self._call(self._build(app_factory))
            self._call(self._startup())
        except BaseException:
            self.close()
            raise

    # -- plumbing ------------------------------------------------------------------------------------

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._state.loop).result(timeout)

    @staticmethod
    async def _build(app_factory: Callable[[], ASGIApp]) -> ASGIApp:
        return app_factory()

    async def _startup(self) -> None:
        state = self._state
        receive_q: asyncio.Queue[Message] = asyncio.Queue()
        started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        shutdown_done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await receive_q.put({"type": "lifespan.startup"})

        async def receive() -> Message:
            return await receive_q.get()

        async def send(message: Message) -> None:
            kind = message.get("type")
            if kind == "lifespan.startup.complete" and not started.done():
                started.set_result(None)
            elif kind == "lifespan.startup.failed" and not started.done():
                started.set_exception(RuntimeError(f"app startup failed: {message.get('message', '')}"))
            elif kind == "lifespan.shutdown.complete" and not shutdown_done.done():
                shutdown_done.set_result(None)
            elif kind == "lifespan.shutdown.failed" and not shutdown_done.done():
                shutdown_done.set_exception(
                    RuntimeError(f"app shutdown failed: {message.get('message', '')}")
                )

        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.lifespan_state,
        }
        task = asyncio.get_running_loop().create_task(self.app(scope, receive, send))
        done, _ = await asyncio.wait(
            {started, task}, timeout=_LIFESPAN_TIMEOUT, return_when=asyncio.FIRST_COMPLETED
        )
        if started in done:
            started.result()
        elif task in done:
            exc = task.exception()
            if exc is not None:
                raise RuntimeError(f"app startup failed: {exc!r}") from exc
            return  # the app returned without lifespan support
        else:
            task.cancel()
            raise TimeoutError("the in-process app did not finish starting up")
        state.lifespan_receive = receive_q
        state.lifespan_task = task
        state.shutdown_done = shutdown_done

    def close(self) -> None:
        """Run the app's shutdown and stop the private loop (idempotent)."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return self._state.closed

    # -- requests ------------------------------------------------------------------------------------

    def _scope(self, request: httpx.Request) -> dict[str, Any]:
        url = request.url
        port = url.port or (443 if url.scheme == "https" else 80)
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": url.scheme,
            "path": url.path,
            "raw_path": url.raw_path.split(b"?")[0],
            "root_path": "",
            "query_string": url.query,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "server": (url.host, port),
            "client": ("127.0.0.1", 0),
            "state": dict(self.lifespan_state),
            "extensions": {},
        }

    def start(
        self, request: httpx.Request, body: bytes | Iterator[bytes], sink: Callable[[Any], None]
    ) -> tuple[concurrent.futures.Future[tuple[int, list[tuple[bytes, bytes]]]], Callable[[], None]]:
        """Schedule ``request`` on the app. Returns the future of ``(status, headers)`` and a ``disconnect``
        callback; body chunks, then ``_END`` (or an exception) go to ``sink`` from the app's thread."""
        if self.closed:
            raise RuntimeError("the in-process framedex app is closed")
        head: concurrent.futures.Future[tuple[int, list[tuple[bytes, bytes]]]] = concurrent.futures.Future()
        loop = self._state.loop
        disconnected = threading.Event()
        holder: dict[str, asyncio.Event] = {}

        def disconnect() -> None:
            disconnected.set()
            event = holder.get("event")
            if event is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(event.set)

        scope = self._scope(request)
        asyncio.run_coroutine_threadsafe(self._serve(scope, body, head, sink, disconnected, holder), loop)
        return head, disconnect

    async def _serve(
        self,
        scope: dict[str, Any],
        body: bytes | Iterator[bytes],
        head: concurrent.futures.Future[tuple[int, list[tuple[bytes, bytes]]]],
        sink: Callable[[Any], None],
        disconnected: threading.Event,
        holder: dict[str, asyncio.Event],
    ) -> None:
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        holder["event"] = event
        if disconnected.is_set():
            event.set()
        body_done = False
        complete = False
        started = False

        def next_chunk(it: Iterator[bytes]) -> Any:
            return next(it, _END)

        async def receive() -> Message:
            nonlocal body_done
            if not body_done:
                if isinstance(body, bytes):
                    body_done = True
                    return {"type": "http.request", "body": body, "more_body": False}
                chunk = await loop.run_in_executor(None, next_chunk, body)
                if chunk is _END:
                    body_done = True
                    return {"type": "http.request", "body": b"", "more_body": False}
                return {"type": "http.request", "body": bytes(chunk), "more_body": True}
            await event.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal complete, started
            kind = message.get("type")
            if kind == "http.response.start":
                started = True
                headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", [])]
                if not head.done():
                    head.set_result((int(message["status"]), headers))
            elif kind == "http.response.body" and not complete:
                chunk = message.get("body", b"")
                if chunk and not disconnected.is_set():
                    sink(bytes(chunk))
                if not message.get("more_body", False):
                    complete = True
                    sink(_END)

        try:
            await self.app(scope, receive, send)
        except BaseException as exc:  # forwarded to the caller
            if not started:
                if not head.done():
                    head.set_exception(exc)
            elif not complete:
                complete = True
                sink(exc)
            else:
                log.debug("in-process app raised after its response was complete", exc_info=exc)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            return
        if not started and not head.done():
            head.set_exception(RuntimeError("the in-process app returned without sending a response"))
        elif not complete:
            sink(_END)


def _sync_body(request: httpx.Request) -> bytes | Iterator[bytes]:
    if isinstance(request.stream, httpx.ByteStream):
        return request.read()
    if isinstance(request.stream, httpx.SyncByteStream):
        return iter(request.stream)
    return request.read()


def _response(
    request: httpx.Request, status: int, headers: list[tuple[bytes, bytes]], stream: Any
) -> httpx.Response:
    return httpx.Response(status, headers=headers, stream=stream, request=request)


class _SyncQueueStream(httpx.SyncByteStream):
    def __init__(self, q: queue.Queue[Any], disconnect: Callable[[], None], timeout: float | None) -> None:
        self._q = q
        self._disconnect = disconnect
        self._timeout = timeout

    def __iter__(self) -> Iterator[bytes]:
        while True:
            try:
                item = self._q.get(timeout=self._timeout)
            except queue.Empty:
                raise httpx.ReadTimeout("in-process response timed out") from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._disconnect()


class InProcessTransport(httpx.BaseTransport):
    """A sync httpx transport that hands every request to an :class:`ASGIRunner`."""

    def __init__(self, runner: ASGIRunner, *, close_runner: bool = True) -> None:
        self.runner = runner
        self._close_runner = close_runner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        q: queue.Queue[Any] = queue.Queue()
        head, disconnect = self.runner.start(request, _sync_body(request), q.put)
        timeout = _read_timeout(request)
        try:
            status, headers = head.result(timeout)
        except concurrent.futures.TimeoutError:
            disconnect()
            raise httpx.ReadTimeout("in-process request timed out", request=request) from None
        return _response(request, status, headers, _SyncQueueStream(q, disconnect, timeout))

    def close(self) -> None:
        if self._close_runner:
            self.runner.close()


class _AsyncQueueStream(httpx.AsyncByteStream):
    def __init__(self, q: asyncio.Queue[Any], disconnect: Callable[[], None], timeout: float | None) -> None:
        self._q = q
        self._disconnect = disconnect
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            try:
                item = await asyncio.wait_for(self._q.get(), self._timeout)
            except TimeoutError:
                raise httpx.ReadTimeout("in-process response timed out") from None
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    async def aclose(self) -> None:
        self._disconnect()


class AsyncInProcessTransport(httpx.AsyncBaseTransport):
    """An async httpx transport that hands every request to an :class:`ASGIRunner`."""

    def __init__(self, runner: ASGIRunner, *, close_runner: bool = True) -> None:
        self.runner = runner
        self._close_runner = close_runner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if isinstance(request.stream, httpx.SyncByteStream):
            body: bytes | Iterator[bytes] = _sync_body(request)
        else:
            body = await request.aread()
        caller = asyncio.get_running_loop()
        q: asyncio.Queue[Any] = asyncio.Queue()

        def sink(item: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the caller's loop may be gone
                caller.call_soon_threadsafe(q.put_nowait, item)

        head, disconnect = self.runner.start(request, body, sink)
        timeout = _read_timeout(request)
        try:
            status, headers = await asyncio.wait_for(asyncio.wrap_future(head), timeout)
        except TimeoutError:
            disconnect()
            raise httpx.ReadTimeout("in-process request timed out", request=request) from None
        return _response(request, status, headers, _AsyncQueueStream(q, disconnect, timeout))

    async def aclose(self) -> None:
        if self._close_runner:
            await asyncio.get_running_loop().run_in_executor(None, self.runner.close)


def _read_timeout(request: httpx.Request) -> float | None:
    timeouts = request.extensions.get("timeout") or {}
    value = timeouts.get("read")
    return float(value) if value is not None else None
