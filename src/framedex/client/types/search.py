"""Search results and their pages (``client.search``)."""

from __future__ import annotations

from typing import Any

from .shared import Model, UserMetadata


class SearchClip(Model):
    start: float | None = None
    end: float | None = None
    video_id: str | None = None
    rank: int | None = None
    score: float | None = None
    confidence: str | None = None
    thumbnail_url: str | None = None
    transcription: str | None = None
    user_metadata: UserMetadata | None = None
    modules: list[dict[str, Any]] | None = None


class SearchItem(SearchClip):
    """A hit; with ``group_by="video"`` it is a video (``id``) with its ``clips``."""

    id: str | None = None
    clips: list[SearchClip] | None = None


class SearchPageInfo(Model):
    limit_per_page: int | None = None
    page_expires_at: str | None = None
    total_results: int | None = None
    total_inner_matches: int | None = None
    next_page_token: str | None = None
    prev_page_token: str | None = None


class SearchPool(Model):
    total_count: int | None = None
    total_duration: float | None = None
    index_id: str | None = None


class SearchResults(Model):
    data: list[SearchItem] | None = None
    page_info: SearchPageInfo | None = None
    search_pool: SearchPool | None = None
