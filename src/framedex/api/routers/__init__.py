"""One router per resource; `ROUTERS` is mounted at /v1.3 and at the root."""

from fastapi import APIRouter

from framedex.api.routers import indexes, tasks, videos

ROUTERS: list[APIRouter] = [indexes.router, tasks.router, videos.router]
