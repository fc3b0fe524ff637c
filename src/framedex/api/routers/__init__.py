"""One router per resource; `ROUTERS` is mounted at /v1.3 and at the root."""

from fastapi import APIRouter

from framedex.api.routers import indexes

ROUTERS: list[APIRouter] = [indexes.router]
