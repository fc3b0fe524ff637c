"""Typed errors raised by the framedex client.

Every non-2xx response becomes an :class:`ApiError`; the class is chosen by the HTTP status alone, the
same for every endpoint (the official SDK maps statuses per endpoint, so a 404 on one endpoint is a
``NotFoundError`` and on another a plain ``ApiError``; here it is always ``NotFoundError``).

``code`` and ``message`` are read from the flat envelope ``{"code": ..., "message": ...}`` that most
endpoints use, from the nested ``{"error": {"code": ..., "message": ...}}`` that a few use, and, as a
last resort, from FastAPI's ``{"detail": ...}``.

Transport failures (connection refused, timeouts) are not wrapped: they surface as ``httpx`` exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "ContentTooLargeError",
    "ForbiddenError",
    "FramedexError",
    "GatewayTimeoutError",
    "GoneError",
    "InternalServerError",
    "NotFoundError",
    "ServiceUnavailableError",
    "TooManyRequestsError",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "UploadError",
    "WaitTimeoutError",
    "error_from_response",
]


class FramedexError(Exception):
    """Base class of every error this package raises on its own."""


class ApiError(FramedexError):
    """The server answered with a non-2xx status (or a 2xx the client could not read).

    ``body`` is the parsed JSON body, or the raw text when the body is not JSON.
    """

    status_code: int | None
    body: Any
    code: str | None
    message: str | None
    headers: dict[str, str]

    def __init__(
        self,
        status_code: int | None = None,
        body: Any = None,
        code: str | None = None,
        message: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if code is None and message is None:
            code, message = parse_error_body(body)
        self.status_code = status_code
        self.body = body
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"status_code={self.status_code}"]
        if self.code:
            parts.append(f"code={self.code}")
        if self.message:
            parts.append(f"message={self.message}")
        elif self.body not in (None, ""):
            text = self.body if isinstance(self.body, str) else repr(self.body)
            parts.append(f"body={text[:500]}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __repr__(self) -> str:
        return self._describe()


class BadRequestError(ApiError):
    """400: the request is invalid (``parameter_invalid``, ``parameter_not_provided``, ...)."""


class UnauthorizedError(ApiError):
    """401: the API key is missing or wrong."""


class ForbiddenError(ApiError):
    """403."""


class NotFoundError(ApiError):
    """404: the resource (or the endpoint) does not exist."""


class ConflictError(ApiError):
    """409."""


class GoneError(ApiError):
    """410: for example an expired page token."""


class ContentTooLargeError(ApiError):
    """413."""


class UnprocessableEntityError(ApiError):
    """422."""


class TooManyRequestsError(ApiError):
    """429: rate limited."""


class InternalServerError(ApiError):
    """500."""


class ServiceUnavailableError(ApiError):
    """503."""


class GatewayTimeoutError(ApiError):
    """504."""


STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    413: ContentTooLargeError,
    422: UnprocessableEntityError,
    429: TooManyRequestsError,
    500: InternalServerError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


class UploadError(FramedexError):
    """A multipart upload could not be completed (a chunk failed after its retries, no ETag, ...)."""

    def __init__(
        self, message: str, chunk_index: int | None = None, original_error: BaseException | None = None
    ) -> None:
        self.message = message
        self.chunk_index = chunk_index
        self.original_error = original_error
        super().__init__(message)


class WaitTimeoutError(FramedexError, TimeoutError):
    """A ``wait_for_done`` helper gave up before the task reached a final status."""

    def __init__(self, message: str, last: Any = None) -> None:
        self.last = last
        super().__init__(message)


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_error_body(body: Any) -> tuple[str | None, str | None]:
    """``(code, message)`` from the flat, the nested or FastAPI's error envelope."""
    if not isinstance(body, Mapping):
        return None, None
    code = body.get("code")
    message = body.get("message")
    nested = body.get("error")
    if isinstance(nested, Mapping):
        code = code if code is not None else nested.get("code")
        message = message if message is not None else nested.get("message")
    elif isinstance(nested, str) and message is None:
        message = nested
    if message is None and "detail" in body:
        detail = body["detail"]
        if isinstance(detail, str):
            message = detail
        elif isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
            message = _str_or_none(detail[0].get("msg"))
        elif detail is not None:
            message = str(detail)
    return _str_or_none(code), _str_or_none(message)


def error_from_response(status_code: int, body: Any, headers: Mapping[str, str] | None = None) -> ApiError:
    """The typed error for a response with this status and (parsed) body."""
    cls = STATUS_ERRORS.get(status_code, ApiError)
    return cls(status_code=status_code, body=body, headers=headers)
