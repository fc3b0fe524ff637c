"""Embeddings, v1 and v2, and their tasks (``client.embed``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .indexes import VideoEmbedding
from .shared import Model, Segment


class EmbeddingResult(Model):
    segments: list[Segment] | None = None
    error_message: str | None = None
    metadata: dict[str, Any] | None = None


class EmbeddingResponse(Model):
    """``POST /embed`` (v1)."""

    model_name: str | None = None
    text_embedding: EmbeddingResult | None = None
    image_embedding: EmbeddingResult | None = None
    audio_embedding: EmbeddingResult | None = None


class EmbedTaskCreateResponse(Model):
    id: str | None = Field(default=None, alias="_id")


EMBED_TASK_FINAL_STATUSES = ("ready", "failed")


class EmbedTask(Model):
    """A v1 video embedding task (``GET /embed/tasks/{id}``, list items, and ``/status``)."""

    id: str | None = Field(default=None, alias="_id")
    model_name: str | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    video_embedding: VideoEmbedding | None = None
    audio_embedding: dict[str, Any] | None = None
    image_embedding: dict[str, Any] | None = None


class EmbeddingData(Model):
    """One vector of the v2 embeddings API."""

    embedding: list[float] | None = None
    embedding_uncertainty: list[float] | None = None
    embedding_option: str | None = None
    embedding_scope: str | None = None
    start_sec: float | None = None
    end_sec: float | None = None
    start_page_number: int | None = None
    end_page_number: int | None = None
    quadrant: str | None = None
    chunk_index: int | None = None


class EmbeddingUsage(Model):
    input_tokens: dict[str, int] | None = None
    truncated: bool | None = None
    truncation_reason: str | None = None


class EmbeddingV2Response(Model):
    """``POST /embed-v2``."""

    data: list[EmbeddingData] | None = None
    usage: EmbeddingUsage | None = None
    metadata: dict[str, Any] | None = None


class EmbedV2Task(Model):
    """``POST /embed-v2/tasks`` and ``GET /embed-v2/tasks[/{id}]``."""

    id: str | None = Field(default=None, alias="_id")
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    data: list[EmbeddingData] | None = None
    usage: EmbeddingUsage | None = None
    metadata: dict[str, Any] | None = None
