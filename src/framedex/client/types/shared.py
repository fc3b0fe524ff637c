"""What the other type modules build on: the ``Model`` base, page info, HLS, segments."""

from __future__ import annotations

from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

UserMetadata: TypeAlias = dict[str, Any]


class Model(BaseModel):
    """Base of every response model: extra fields allowed, populated by wire name or field name."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class PageInfo(Model):
    page: int | None = None
    limit_per_page: int | None = None
    total_page: int | None = None
    total_results: int | None = None


class TokenUsage(Model):
    output_tokens: int | None = None
    input_tokens: int | None = None


class Hls(Model):
    video_url: str | None = None
    thumbnail_urls: list[str] | None = None
    status: str | None = None
    updated_at: str | None = None


class Segment(Model):
    """One embedding segment (v1 embeddings and video/indexed-asset retrieval)."""

    float_: list[float] | None = Field(default=None, alias="float")
    start_offset_sec: float | None = None
    end_offset_sec: float | None = None
    embedding_option: str | None = None
    embedding_scope: str | None = None


class TranscriptionSegment(Model):
    start: float | None = None
    end: float | None = None
    value: str | None = None


class Page(Model):
    """A page-number list response: ``data`` and ``page_info``."""

    data: list[dict[str, Any]] | None = None
    page_info: PageInfo | None = None
