"""Response models of the framedex client (the Twelve Labs v1.3 wire format).

Every model allows extra fields (a newer server may send more) and every field is optional, so a
partial response never fails to parse. The wire key ``_id`` is exposed as ``.id``; the wire key ``float``
(embedding vectors) as ``.float_``. ``model.model_dump(by_alias=True)`` gives the wire form back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

if TYPE_CHECKING:
    from framedex.client._async.resources.tasks import AsyncTasks
    from framedex.client._sync.resources.tasks import Tasks

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


# ------------------------------------------------------------------------------------------ indexes


class IndexModel(Model):
    model_name: str | None = None
    model_options: list[str] | None = None


class Index(Model):
    id: str | None = Field(default=None, alias="_id")
    index_name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    total_duration: float | None = None
    video_count: float | None = None
    models: list[IndexModel] | None = None
    addons: list[str] | None = None


class IndexCreateResponse(Model):
    id: str | None = Field(default=None, alias="_id")


class VideoSystemMetadata(Model):
    filename: str | None = None
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    size: float | None = None


class VideoEmbedding(Model):
    segments: list[Segment] | None = None
    metadata: dict[str, Any] | None = None


class Embedding(Model):
    model_name: str | None = None
    video_embedding: VideoEmbedding | None = None


class Video(Model):
    """A video in an index (``/indexes/{id}/videos``; the older name for an indexed asset)."""

    id: str | None = Field(default=None, alias="_id")
    asset_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    indexed_at: str | None = None
    system_metadata: VideoSystemMetadata | None = None
    user_metadata: UserMetadata | None = None
    hls: Hls | None = None
    embedding: Embedding | None = None
    transcription: list[TranscriptionSegment] | None = None


class IndexedAsset(Video):
    status: str | None = None


class IndexedAssetCreateResponse(Model):
    id: str | None = Field(default=None, alias="_id")
    asset_id: str | None = None


class IndexRef(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None


class IndexedAssetSummary(Model):
    id: str | None = Field(default=None, alias="_id")
    index: IndexRef | None = None


# -------------------------------------------------------------------------------------------- tasks


class TaskSystemMetadata(Model):
    duration: float | None = None
    filename: str | None = None
    height: int | None = None
    width: int | None = None


TASK_FINAL_STATUSES = ("ready", "failed")


class _TaskFields(Model):
    id: str | None = Field(default=None, alias="_id")
    video_id: str | None = None
    index_id: str | None = None
    status: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    system_metadata: TaskSystemMetadata | None = None
    hls: Hls | None = None

    @property
    def done(self) -> bool:
        return self.status in TASK_FINAL_STATUSES

    def _update_from(self, other: _TaskFields) -> None:
        for name in type(self).model_fields:
            value = getattr(other, name)
            if value is not None or name == "status":
                setattr(self, name, value)
        if other.model_extra:
            if self.__pydantic_extra__ is None:
                self.__pydantic_extra__ = {}
            self.__pydantic_extra__.update(other.model_extra)


class Task(_TaskFields):
    """A video indexing task (``POST /tasks``). Bound to the client that fetched it."""

    _client: Tasks | None = PrivateAttr(default=None)

    def wait_for_done(
        self,
        sleep_interval: float = 5.0,
        callback: Callable[[Task], object] | None = None,
        timeout: float | None = None,
    ) -> Task:
        """Poll until the task is ``ready`` or ``failed``; update this object and return it."""
        if self._client is None or self.id is None:
            raise RuntimeError("this Task is not bound to a client; use client.tasks.wait_for_done(task_id)")
        final = self._client.wait_for_done(
            self.id, sleep_interval=sleep_interval, callback=callback, timeout=timeout
        )
        self._update_from(final)
        return self

    def refresh(self) -> Task:
        """Fetch the task again and update this object."""
        if self._client is None or self.id is None:
            raise RuntimeError("this Task is not bound to a client")
        self._update_from(self._client.retrieve(self.id))
        return self


class AsyncTask(_TaskFields):
    """A video indexing task from :class:`AsyncTwelveLabs`; ``wait_for_done``/``refresh`` are coroutines."""

    _client: AsyncTasks | None = PrivateAttr(default=None)

    async def wait_for_done(
        self,
        sleep_interval: float = 5.0,
        callback: Callable[[AsyncTask], object | Awaitable[object]] | None = None,
        timeout: float | None = None,
    ) -> AsyncTask:
        """Poll until the task is ``ready`` or ``failed``; update this object and return it."""
        if self._client is None or self.id is None:
            raise RuntimeError("this Task is not bound to a client; use client.tasks.wait_for_done(task_id)")
        final = await self._client.wait_for_done(
            self.id, sleep_interval=sleep_interval, callback=callback, timeout=timeout
        )
        self._update_from(final)
        return self

    async def refresh(self) -> AsyncTask:
        if self._client is None or self.id is None:
            raise RuntimeError("this Task is not bound to a client")
        self._update_from(await self._client.retrieve(self.id))
        return self


# ------------------------------------------------------------------------------------------- assets


class AssetHls(Model):
    manifest_url: str | None = None
    status: str | None = None


class AssetThumbnail(Model):
    representative_url: str | None = None
    status: str | None = None


class Asset(Model):
    id: str | None = Field(default=None, alias="_id")
    method: str | None = None
    status: str | None = None
    filename: str | None = None
    file_type: str | None = None
    created_at: datetime | None = None
    user_metadata: UserMetadata | None = None
    source: dict[str, Any] | None = None
    hls: AssetHls | None = None
    thumbnail: AssetThumbnail | None = None
    technical_metadata: dict[str, Any] | None = None


class TranscriptionUtterance(TranscriptionSegment):
    speaker: str | None = None


class TranscriptionError(Model):
    message: str | None = None


class AssetTranscription(Model):
    status: str | None = None
    words: list[TranscriptionSegment] | None = None
    sentences: list[TranscriptionSegment] | None = None
    utterances: list[TranscriptionUtterance] | None = None
    error: TranscriptionError | None = None


# ---------------------------------------------------------------------------------------- multipart


class PresignedUrlChunk(Model):
    chunk_index: int | None = None
    url: str | None = None
    expires_at: datetime | None = None


class MultipartUploadSession(Model):
    """``POST /assets/multipart-uploads``."""

    upload_id: str | None = None
    asset_id: str | None = None
    upload_urls: list[PresignedUrlChunk] | None = None
    upload_headers: dict[str, str] | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None
    expires_at: datetime | None = None


class ChunkInfo(Model):
    index: int | None = None
    status: str | None = None
    uploaded_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None


class UploadStatus(Model):
    """``GET /assets/multipart-uploads/{upload_id}``."""

    upload_id: str | None = None
    status: str | None = None
    uploaded_chunks: list[ChunkInfo] | None = None
    chunks_completed: int | None = None
    chunks_failed: int | None = None
    chunks_pending: int | None = None
    page_info: PageInfo | None = None
    total_size: int | None = None
    uploaded_size: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CompletedChunk(Model):
    chunk_index: int
    proof: str
    proof_type: str = "etag"
    chunk_size: int | None = None


class ChunkBatchReport(Model):
    """``POST /assets/multipart-uploads/{upload_id}``; ``url`` is set once the upload is complete."""

    url: str | None = None
    asset_id: str | None = None
    processed_chunks: int | None = None
    duplicate_chunks: int | None = None
    total_completed: int | None = None


class PresignedUrls(Model):
    upload_id: str | None = None
    start_index: int | None = None
    count: int | None = None
    upload_urls: list[PresignedUrlChunk] | None = None
    generated_at: datetime | None = None
    expires_at: datetime | None = None


class IncompleteUpload(Model):
    upload_id: str | None = None
    status: str | None = None
    total_size: int | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None


class UploadProgress(Model):
    total_chunks: int
    completed_chunks: int
    percentage: float
    status: str


class UploadResult(Model):
    asset_id: str | None = None
    asset_url: str | None = None
    upload_id: str | None = None


# ------------------------------------------------------------------------------------------- search


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


# ------------------------------------------------------------------------------------------ analyze


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


# ---------------------------------------------------------------------------------------- embedding


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


# ----------------------------------------------------------------------------------------- entities


class EntityCollection(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Entity(Model):
    id: str | None = Field(default=None, alias="_id")
    entity_collection_id: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    asset_ids: list[str] | None = None
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class BulkEntity(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None
    status: str | None = None


class BulkEntityError(Model):
    entity_index: int | None = None
    entity_name: str | None = None
    error_reason: str | None = None


class BulkCreateEntityResponse(Model):
    success_count: int | None = None
    failed_count: int | None = None
    entities: list[BulkEntity] | None = None
    errors: list[BulkEntityError] | None = None


# ------------------------------------------------------------------------------------ generic pages


class Page(Model):
    """A page-number list response: ``data`` and ``page_info``."""

    data: list[dict[str, Any]] | None = None
    page_info: PageInfo | None = None
