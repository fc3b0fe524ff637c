# Generated from _async/_http.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""The HTTP core of the sync client: building requests, retries, typed errors."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from framedex.client._base import (
    CHUNK_UPLOAD_TIMEOUT,
    DEFAULT_TIMEOUT,
    RETRY_STATUSES,
    M,
    default_headers,
    make_timeout,
    normalize_base_url,
    parse_body,
    parse_model,
    raise_for_status,
    resolve_api_key,
    retry_delay,
    same_origin,
)
from framedex.client._encoding import MultipartBody, encode_query, to_jsonable
from framedex.client._inprocess import INPROCESS_ORIGIN, ASGIRunner, InProcessTransport, build_app

from ._concurrency import sleep

_RETRYABLE_TRANSPORT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class SyncHTTP:
    """Sends requests to ``base_url`` (always ending in ``/v1.3``) and maps errors to typed exceptions."""

    def __init__(
        self,
        api_key: str | None,
        *,
        base_url: str | None,
        data_dir: str | os.PathLike[str] | None,
        settings: Any,
        timeout: float | httpx.Timeout | None,
        transport: httpx.BaseTransport | None,
        max_retries: int,
        headers: Mapping[str, str] | None,
    ) -> None:
        self.runner: ASGIRunner | None = None
        if data_dir is not None or settings is not None:
            if base_url is not None or transport is not None:
                raise ValueError("give either data_dir (in-process) or base_url/transport, not both")
            runner = ASGIRunner(
                lambda: build_app(data_dir or ".", auth_enabled=api_key is not None, settings=settings)
            )
            self.runner = runner
            transport = InProcessTransport(runner)
            self.base_url = normalize_base_url(INPROCESS_ORIGIN)
        else:
            api_key = resolve_api_key(api_key)
            self.base_url = normalize_base_url(base_url)
        self.api_key = api_key
        self.max_retries = max(0, int(max_retries))
        self.headers = default_headers(api_key, headers)
        self.timeout = make_timeout(DEFAULT_TIMEOUT if timeout is None else timeout)
        self.client = httpx.Client(transport=transport, timeout=self.timeout, follow_redirects=True)
        self._external: httpx.Client | None = None
        self._base = httpx.URL(self.base_url)

    # -- lifecycle -----------------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()
        if self._external is not None:
            self._external.close()
        if self.runner is not None:
            self.runner.close()

    # -- building ------------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def build(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: MultipartBody | None = None,
    ) -> httpx.Request:
        headers = dict(self.headers)
        query = encode_query(params)
        if body is not None:
            base = self.client.build_request(method, self.url(path), params=query, headers=headers)
            merged = httpx.Headers(base.headers)
            for name in ("Content-Length", "Transfer-Encoding"):
                merged.pop(name, None)
            merged.update(body.headers())
            if "Content-Length" not in merged:
                merged["Transfer-Encoding"] = "chunked"
            return httpx.Request(method, base.url, headers=merged, stream=body, extensions=base.extensions)
        if json is not None:
            return self.client.build_request(
                method, self.url(path), params=query, headers=headers, json=to_jsonable(json)
            )
        return self.client.build_request(method, self.url(path), params=query, headers=headers)

    # -- sending -------------------------------------------------------------------------------------

    def send(
        self, factory: Callable[[], httpx.Request], *, replayable: bool = True, stream: bool = False
    ) -> httpx.Response:
        """Send, retrying 408/429/5xx and connection failures up to ``max_retries`` times (when the body
        can be sent again). Non-2xx raise typed errors. With ``stream=True`` a 2xx body is left unread."""
        attempt = 0
        while True:
            request = factory()
            try:
                response = self.client.send(request, stream=True)
            except _RETRYABLE_TRANSPORT_ERRORS:
                if attempt < self.max_retries and replayable:
                    sleep(retry_delay(attempt, None))
                    attempt += 1
                    continue
                raise
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries and replayable:
                response.close()
                sleep(retry_delay(attempt, response))
                attempt += 1
                continue
            if not stream or response.status_code >= 300:
                try:
                    response.read()
                finally:
                    response.close()
            if response.status_code >= 300:
                raise_for_status(response)
            return response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: MultipartBody | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        replayable = body.replayable if body is not None else True
        return self.send(
            lambda: self.build(method, path, params=params, json=json, body=body),
            replayable=replayable,
            stream=stream,
        )

    def model(
        self,
        method: str,
        path: str,
        cast_to: type[M],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        body: MultipartBody | None = None,
    ) -> M:
        response = self.request(method, path, params=params, json=json, body=body)
        return parse_model(response, cast_to)

    def json(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> Any:
        response = self.request(method, path, params=params, json=json)
        return parse_body(response)

    def none(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json: Any = None
    ) -> None:
        self.request(method, path, params=params, json=json)

    # -- chunk uploads -------------------------------------------------------------------------------

    def put_chunk(
        self, url: str, data: bytes, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        """PUT one chunk to a presigned URL, without the API key. Same-origin URLs go through this
        client's transport (so in-process uploads work); others through a plain client."""
        target = httpx.URL(url)
        if not target.is_absolute_url:
            target = self._base.join(url)
        all_headers = {"Content-Type": "application/octet-stream"}
        all_headers.update(headers or {})
        timeout = httpx.Timeout(CHUNK_UPLOAD_TIMEOUT)
        if same_origin(target, self._base):
            client = self.client
        else:
            if self._external is None:
                self._external = httpx.Client(follow_redirects=True)
            client = self._external
        response = client.put(target, content=data, headers=all_headers, timeout=timeout)
        if response.status_code >= 300:
            raise_for_status(response)
        return response
