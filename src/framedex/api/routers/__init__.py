"""One router per resource; `ROUTERS` is mounted at /v1.3 and at the root."""

from fastapi import APIRouter

from framedex.api.routers import (
    analyze,
    assets,
    documents,
    embed,
    entities,
    indexes,
    search,
    streaming,
    tasks,
    thumbnails,
    uploads,
    videos,
)

# uploads before assets: /assets/multipart-uploads must not match /assets/{asset_id}.
ROUTERS: list[APIRouter] = [indexes.router, tasks.router, videos.router, search.router, thumbnails.router,
                           uploads.router, assets.router, embed.router, entities.router, analyze.router,
                           documents.router, streaming.router]
