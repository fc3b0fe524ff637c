"""Configuration and response handling shared by the sync and the async client (no I/O here)."""

from __future__ import annotations

import email.utils
import json
import os
import random
import time
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from framedex._version import __version__
from framedex.errors import ApiError, error_from_response

API_VERSION = "v1.3"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 600.0
CHUNK_UPLOAD_TIMEOUT = 300.0
USER_AGENT = f"framedex-python/{__version__}"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0

M = TypeVar("M", bound=BaseModel)


def resolve_api_key(api_key: str | None) -> str | None:
    if api_key is not None:
        return api_key
    return os.environ.get("FRAMEDEX_API_KEY") or os.environ.get("TWELVELABS_API_KEY") or None


def normalize_base_url(base_url: str | None) -> str:
    """``http://host:port`` or ``http://host:port/v1.3`` (with or without a trailing slash) -> ``.../v1.3``.

    Explicit argument first, then ``$FRAMEDEX_BASE_URL``, ``$FRAMEDEX_URL``, ``$TWELVELABS_BASE_URL``, the default.
    """
    url = (
        base_url
        or os.environ.get("FRAMEDEX_BASE_URL")
        or os.environ.get("FRAMEDEX_URL")
        or os.environ.get("TWELVELABS_BASE_URL")
    )
    url = (url or DEFAULT_BASE_URL).strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    if not url.endswith("/" + API_VERSION):
        url = f"{url}/{API_VERSION}"
    return url


def make_timeout(timeout: float | httpx.Timeout | None) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    return httpx.Timeout(timeout)


def default_headers(api_key: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["x-api-key"] = api_key
    if extra:
        headers.update(extra)
    return headers


def path(template: str, *ids: str) -> str:
    """``path("indexes/{}/videos/{}", a, b)`` with every id URL-escaped."""
    for value in ids:
        if not isinstance(value, str) or not value:
            raise ValueError(f"expected a non-empty id string, got {value!r}")
    return template.format(*(quote(v, safe="") for v in ids))


def parse_body(response: httpx.Response) -> Any:
    """The JSON body, or the text when it is not JSON (``None`` when empty)."""
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError:
        return response.text


def raise_for_status(response: httpx.Response) -> None:
    """Raise the typed :class:`~framedex.errors.ApiError` for a non-2xx response (body must be read)."""
    if 200 <= response.status_code < 300:
        return
    raise error_from_response(response.status_code, parse_body(response), dict(response.headers))


def parse_model(response: httpx.Response, model: type[M]) -> M:
    """Validate a 2xx JSON body into ``model``; a 2xx that is not JSON raises :class:`ApiError`."""
    try:
        data = json.loads(response.content)
    except ValueError:
        raise ApiError(
            status_code=response.status_code,
            body=response.text,
            code="invalid_response",
            message="the server answered with a body that is not JSON",
            headers=dict(response.headers),
        ) from None
    return model.model_validate(data)


def retry_delay(attempt: int, response: httpx.Response | None) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based): ``Retry-After`` (if <= 30 s) or
    exponential backoff 0.5 * 2**attempt with jitter, capped at 10 s."""
    if response is not None:
        ms = response.headers.get("retry-after-ms")
        if ms:
            try:
                value = float(ms) / 1000.0
                if 0 <= value <= MAX_RETRY_AFTER:
                    return value
            except ValueError:
                pass
        after = response.headers.get("retry-after")
        if after:
            seconds: float | None
            try:
                seconds = float(after)
            except ValueError:
                try:
                    seconds = email.utils.parsedate_to_datetime(after).timestamp() - time.time()
                except (TypeError, ValueError):
                    seconds = None
            if seconds is not None and 0 <= seconds <= MAX_RETRY_AFTER:
                return seconds
    base: float = min(0.5 * (2**attempt), 10.0)
    return base * (0.75 + random.random() * 0.25)


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)
