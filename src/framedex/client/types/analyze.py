"""Analysis: ``analyze``/``analyze_stream``, summarize, gist, and ``client.analyze_async``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeAlias, Union

from .shared import Model, PageInfo, TokenUsage


class AnalyzeError(Model):
    code: str | None = None
    message: str | None = None


class AnalyzeResponse(Model):
    """``POST /analyze`` without streaming (also ``POST /generate``)."""

    id: str | None = None
    data: str | None = None
    finish_reason: str | None = None
    usage: TokenUsage | None = None
    error: AnalyzeError | None = None


class StreamMetadata(Model):
    generation_id: str | None = None
    usage: TokenUsage | None = None


class StreamStart(Model):
    event_type: Literal["stream_start"] = "stream_start"
    metadata: StreamMetadata | None = None


class TextGeneration(Model):
    event_type: Literal["text_generation"] = "text_generation"
    text: str | None = None


class StreamEnd(Model):
    event_type: Literal["stream_end"] = "stream_end"
    finish_reason: str | None = None
    metadata: StreamMetadata | None = None
    error: AnalyzeError | None = None


AnalyzeStreamEvent: TypeAlias = Union[StreamStart, TextGeneration, StreamEnd]  # noqa: UP007

STREAM_EVENTS: dict[str, type[Model]] = {
    "stream_start": StreamStart,
    "text_generation": TextGeneration,
    "stream_end": StreamEnd,
}


class AnalyzeTaskCreateResponse(Model):
    task_id: str | None = None
    status: str | None = None


class AnalyzeTaskResult(Model):
    generation_id: str | None = None
    data: str | None = None
    finish_reason: str | None = None
    usage: TokenUsage | None = None


ANALYZE_TASK_FINAL_STATUSES = ("ready", "failed", "canceled")


class AnalyzeTask(Model):
    task_id: str | None = None
    custom_id: str | None = None
    batch_id: str | None = None
    status: str | None = None
    video_source: dict[str, Any] | None = None
    request_params: dict[str, Any] | None = None
    result: AnalyzeTaskResult | None = None
    error: AnalyzeError | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    completed_at: datetime | None = None


class AnalyzeTaskList(Model):
    data: list[AnalyzeTask] | None = None
    page_info: PageInfo | None = None


class CreatedBatchItem(Model):
    task_id: str | None = None
    custom_id: str | None = None


class AnalyzeBatchCreateResponse(Model):
    batch_id: str | None = None
    status: str | None = None
    total_items: int | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    items: list[CreatedBatchItem] | None = None


class AnalyzeBatch(Model):
    batch_id: str | None = None
    analysis_mode: str | None = None
    model_name: str | None = None
    status: str | None = None
    total_items: int | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    completed_at: datetime | None = None
    canceled_at: datetime | None = None
    expired_at: datetime | None = None
    queued_items: int | None = None
    processing_items: int | None = None
    ready_items: int | None = None
    failed_items: int | None = None
    canceled_items: int | None = None
    webhooks: list[dict[str, Any]] | None = None


class BatchResultItem(Model):
    task_id: str | None = None
    custom_id: str | None = None
    status: str | None = None
    data: AnalyzeTaskResult | None = None
    error: AnalyzeError | None = None


class Chapter(Model):
    chapter_number: int | None = None
    start: float | None = None
    end: float | None = None
    start_sec: float | None = None
    end_sec: float | None = None
    chapter_title: str | None = None
    chapter_summary: str | None = None


class Highlight(Model):
    start: float | None = None
    end: float | None = None
    start_sec: float | None = None
    end_sec: float | None = None
    highlight: str | None = None
    highlight_summary: str | None = None


class SummarizeResponse(Model):
    """``POST /summarize``: ``summary``, ``chapters`` or ``highlights`` according to ``summarize_type``."""

    summarize_type: str | None = None
    id: str | None = None
    summary: str | None = None
    chapters: list[Chapter] | None = None
    highlights: list[Highlight] | None = None
    usage: TokenUsage | None = None


class Gist(Model):
    id: str | None = None
    title: str | None = None
    topics: list[str] | None = None
    hashtags: list[str] | None = None
    usage: TokenUsage | None = None
