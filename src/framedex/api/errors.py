"""The error envelope of the real API: `{"code": "...", "message": "..."}` with its statuses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from framedex.domain_errors import ServiceError

log = logging.getLogger("framedex.api")


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> tuple[str, str]:
    errors: list[Any] = list(exc.errors())
    if not errors:
        return "parameter_invalid", "The request is invalid."
    first = errors[0]
    loc = [str(p) for p in first.get("loc", []) if p not in ("body", "query", "path", "form", "header")]
    name = ".".join(loc) or "request"
    if first.get("type") == "missing":
        return "parameter_not_provided", f"The {name} parameter is required but was not provided."
    return "parameter_invalid", f"The {name} parameter is invalid: {first.get('msg', 'invalid value')}."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message = _describe_validation(exc)
        return error_response(400, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "endpoint_not_exists", "The requested endpoint does not exist.")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", "This method is not allowed on this endpoint.")
        code = "parameter_invalid" if exc.status_code == 400 else "http_error"
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "An internal error occurred. See the server log.")
