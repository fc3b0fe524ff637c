"""Domain errors. Each carries the real API's error code and HTTP status, which are part of the contract."""

from __future__ import annotations


class ServiceError(Exception):
    status = 400
    code = "parameter_invalid"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class InvalidParameter(ServiceError):
    def __init__(self, name: str, reason: str, *, code: str = "parameter_invalid") -> None:
        super().__init__(f"The {name} parameter is invalid. {reason}".strip(), code=code)
        self.parameter = name


class MissingParameter(ServiceError):
    code = "parameter_not_provided"

    def __init__(self, name: str) -> None:
        super().__init__(f"The {name} parameter is required but was not provided.")
        self.parameter = name


class NotFound(ServiceError):
    status = 404
    code = "resource_not_exists"

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"The {resource} with id {resource_id!r} does not exist.")


class Conflict(ServiceError):
    status = 409
    code = "resource_conflict"


class Unauthorized(ServiceError):
    status = 401
    code = "api_key_invalid"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "video_filesize_too_large"


class PermanentJobError(Exception):
    """The job can never succeed (bad input); do not retry. Raised by job handlers (and by decode limits,
    which ingest, services and jobs all meet), caught by the worker loop in `jobs.worker`."""
