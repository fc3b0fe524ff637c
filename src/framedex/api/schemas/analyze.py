"""Wire schemas of analysis: ``/analyze`` (+ ``/generate``), ``/summarize``, ``/gist``, ``/analyze/tasks``,
``/analyze/batches``. Request fields are typed loosely (``Any``) on purpose: the service checks each
one and answers with the real API's error codes and messages, which a pydantic type error could not."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from framedex.api.schemas.common import PageInfo, WireModel
from framedex.domain_errors import ServiceError
from framedex.services import analysis


class _Request(BaseModel):
    model_config = ConfigDict(extra="allow")

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AnalyzeRequest(_Request):
    """``POST /analyze``: 1.3 (``video`` object) and older (``video_id``) forms; ``stream`` picks the reply."""

    video_id: Any = None
    video: Any = None
    image: Any = None
    prompt: Any = None
    prompt_v2: Any = None
    model_name: Any = None
    temperature: Any = None
    max_tokens: Any = None
    response_format: Any = None
    start_time: Any = None
    end_time: Any = None
    stream: Any = None


class SummarizeRequest(_Request):
    video_id: Any = None
    video: Any = None
    type: Any = None
    prompt: Any = None
    temperature: Any = None
    response_format: Any = None
    max_tokens: Any = None
    model_name: Any = None


class GistRequest(_Request):
    video_id: Any = None
    video: Any = None
    types: Any = None
    model_name: Any = None


class AnalyzeTaskCreate(_Request):
    video_id: Any = None
    video: Any = None
    image: Any = None
    prompt: Any = None
    prompt_v2: Any = None
    model_name: Any = None
    custom_id: Any = None
    analysis_mode: Any = None
    temperature: Any = None
    max_tokens: Any = None
    response_format: Any = None
    min_segment_duration: Any = None
    max_segment_duration: Any = None
    start_time: Any = None
    end_time: Any = None
    webhook_url: Any = None  # framedex extension (the real platform registers webhooks in its dashboard)
    webhook_urls: Any = None


class BatchCreate(_Request):
    model_name: Any = None
    analysis_mode: Any = None
    defaults: Any = None
    requests: Any = None
    webhook_url: Any = None
    webhook_urls: Any = None


class TokenUsage(WireModel):
    output_tokens: int
    input_tokens: int | None = None

    @classmethod
    def of(cls, usage: analysis.Usage) -> TokenUsage:
        return cls(output_tokens=usage.output_tokens, input_tokens=usage.input_tokens)


class AnalyzeError(WireModel):
    code: str | None = None
    message: str


class AnalyzeResponse(WireModel):
    """``NonStreamAnalyzeResponse``."""

    id: str
    data: str
    finish_reason: str
    usage: TokenUsage
    error: AnalyzeError | None = None

    @classmethod
    def of(cls, result: analysis.Result) -> AnalyzeResponse:
        error = result.error()
        return cls(id=result.generation_id, data=result.data, finish_reason=result.finish_reason,
                   usage=TokenUsage(output_tokens=result.output_tokens, input_tokens=result.input_tokens),
                   error=AnalyzeError(**error) if error else None)


class Chapter(WireModel):
    chapter_number: int
    start: int
    end: int
    start_sec: float
    end_sec: float
    chapter_title: str
    chapter_summary: str


class Highlight(WireModel):
    start: int
    end: int
    start_sec: float
    end_sec: float
    highlight: str
    highlight_summary: str


class SummarizeResponse(WireModel):
    id: str
    summarize_type: str
    summary: str | None = None
    chapters: list[Chapter] | None = None
    highlights: list[Highlight] | None = None
    usage: TokenUsage | None = None

    @staticmethod
    def body(summary: analysis.Summary) -> dict[str, Any]:
        """The ``/summarize`` body. A plain dict, not this model: ``/summarize`` has always sent each number as
        the service made it (an int ``end_sec`` stays an int), which validating into ``float`` fields would not."""
        out: dict[str, Any] = {"id": summary.id, "summarize_type": summary.kind}
        if summary.kind == "summary":
            out["summary"] = summary.text
        elif summary.kind == "chapter":
            out["chapters"] = [_chapter(c) for c in summary.chapters or ()]
        else:
            out["highlights"] = [_highlight(h) for h in summary.highlights or ()]
        out["usage"] = TokenUsage.of(summary.usage).model_dump()
        return out


def _chapter(c: analysis.Chapter) -> dict[str, Any]:
    return {"chapter_number": c.number, "start": c.start, "end": c.end, "start_sec": c.start_sec,
            "end_sec": c.end_sec, "chapter_title": c.title, "chapter_summary": c.summary}


def _highlight(h: analysis.Highlight) -> dict[str, Any]:
    return {"start": h.start, "end": h.end, "start_sec": h.start_sec, "end_sec": h.end_sec,
            "highlight": h.title, "highlight_summary": h.summary}


class GistResponse(WireModel):
    id: str
    title: str | None = None
    topics: list[str] | None = None
    hashtags: list[str] | None = None
    usage: TokenUsage | None = None

    @classmethod
    def of(cls, gist: analysis.Gist) -> GistResponse:
        return cls(id=gist.id, title=gist.title, topics=None if gist.topics is None else list(gist.topics),
                   hashtags=None if gist.hashtags is None else list(gist.hashtags), usage=TokenUsage.of(gist.usage))


class AnalyzeTaskCreated(WireModel):
    task_id: str
    status: str


class AnalyzeTaskCanceled(WireModel):
    task_id: str
    status: str


class AnalyzeTaskResponse(WireModel):
    """``AnalyzeTaskResponse`` (built by ``services.analysis.tasks.task_view``)."""

    task_id: str
    custom_id: str | None = None
    batch_id: str | None = None
    video_source: dict[str, Any] | None = None
    request_params: dict[str, Any] | None = None
    status: str
    created_at: str
    completed_at: str | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    webhooks: list[dict[str, Any]] | None = None


class AnalyzeTaskList(WireModel):
    data: list[AnalyzeTaskResponse]
    page_info: PageInfo


class CreatedBatchItem(WireModel):
    task_id: str
    custom_id: str | None = None


class BatchCreated(WireModel):
    batch_id: str
    status: str
    total_items: int
    created_at: str
    expires_at: str
    items: list[CreatedBatchItem]


class BatchStatus(WireModel):
    batch_id: str
    analysis_mode: str
    model_name: str
    status: str
    total_items: int
    created_at: str
    expires_at: str
    completed_at: str | None = None
    canceled_at: str | None = None
    expired_at: str | None = None
    queued_items: int
    processing_items: int
    ready_items: int
    failed_items: int
    canceled_items: int
    webhooks: list[dict[str, Any]] | None = None


class BatchList(WireModel):
    data: list[BatchStatus]
    page_info: PageInfo


def ndjson_events(run: analysis.Analysis) -> Iterator[str]:
    """The NDJSON stream of ``/analyze`` and ``/generate`` (``Analysis.stream`` shaped as the SDK parses it):
    ``stream_start``, ``text_generation``…, ``stream_end``. Closing it stops the generation."""
    yield _line({"event_type": "stream_start", "metadata": {"generation_id": run.generation_id}})
    with contextlib.closing(run.stream()) as items:
        for item in items:
            if isinstance(item, str):
                if item:
                    yield _line({"event_type": "text_generation", "text": item})
            elif isinstance(item, analysis.Result):
                end: dict[str, Any] = {
                    "event_type": "stream_end", "finish_reason": item.finish_reason,
                    "metadata": {"generation_id": run.generation_id, "usage": item.usage()},
                }
                if error := item.error():
                    end["error"] = error
                if item.time_to_first_token is not None:
                    end["time_to_first_token"] = round(item.time_to_first_token, 3)
                yield _line(end)
                return
            else:
                error = {"code": item.code, "message": item.message} if isinstance(item, ServiceError) else \
                    {"code": "internal_error", "message": "Generation failed because of an internal error."}
                yield _line({"event_type": "stream_end", "finish_reason": "stop",
                             "metadata": {"generation_id": run.generation_id,
                                          "usage": {"output_tokens": 0, "input_tokens": 0}},
                             "error": error})
                return


def _line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"
