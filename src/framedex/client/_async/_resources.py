"""Resources of the async client, one class per API resource (wire format: Twelve Labs v1.3)."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import httpx

from framedex.client._base import M, path
from framedex.client._encoding import FileInput, json_body, multipart
from framedex.client.types import (
    ANALYZE_TASK_FINAL_STATUSES,
    EMBED_TASK_FINAL_STATUSES,
    TASK_FINAL_STATUSES,
    AnalyzeBatch,
    AnalyzeBatchCreateResponse,
    AnalyzeTask,
    AnalyzeTaskCreateResponse,
    AnalyzeTaskList,
    Asset,
    AssetTranscription,
    AsyncTask,
    BatchResultItem,
    BulkCreateEntityResponse,
    ChunkBatchReport,
    ChunkInfo,
    CompletedChunk,
    EmbeddingResponse,
    EmbeddingV2Response,
    EmbedTask,
    EmbedTaskCreateResponse,
    EmbedV2Task,
    Entity,
    EntityCollection,
    IncompleteUpload,
    Index,
    IndexCreateResponse,
    IndexedAsset,
    IndexedAssetCreateResponse,
    IndexedAssetSummary,
    Model,
    MultipartUploadSession,
    Page,
    PresignedUrls,
    SearchResults,
    UploadProgress,
    UploadResult,
    UploadStatus,
    Video,
)
from framedex.errors import ApiError, UploadError, WaitTimeoutError

from ._concurrency import Thunk, maybe_await, monotonic, run_limited, sleep
from ._http import AsyncHTTP
from ._pagination import AsyncPager, AsyncSearchPager
from ._streaming import AsyncStream

Range: TypeAlias = float | Mapping[str, float]
"""A number (exact match) or ``{"gte": ..., "lte": ...}``."""
Metadata: TypeAlias = Mapping[str, Any]
StrOrList: TypeAlias = str | Sequence[str]

MAX_PRESIGNED_PER_CALL = 50


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, httpx.TransportError):
        return True
    return (
        isinstance(exc, ApiError)
        and exc.status_code is not None
        and (exc.status_code == 429 or exc.status_code >= 500)
    )


class _Resource:
    def __init__(self, http: AsyncHTTP) -> None:
        self._http = http

    async def _pager(
        self,
        url: str,
        params: Mapping[str, Any],
        item_model: type[M],
        *,
        page: int | None = None,
        items_key: str = "data",
        page_model: type[Model] = Page,
        transform: Callable[[M], M] | None = None,
    ) -> AsyncPager[M]:
        base = dict(params)

        async def fetch(number: int) -> Any:
            return await self._http.json("GET", url, params={"page": number, **base})

        return await AsyncPager.create(
            fetch, item_model, page=page or 1, items_key=items_key, page_model=page_model, transform=transform
        )

    async def _poll(
        self,
        fetch: Thunk[M],
        final: Sequence[str],
        *,
        sleep_interval: float,
        callback: Callable[[M], Any] | None,
        timeout: float | None,
        what: str,
    ) -> M:
        """Fetch now, then every ``sleep_interval`` s until ``status`` is in ``final``. Transient errors
        (connection failures, 429, 5xx) are retried; others propagate."""
        deadline = None if timeout is None else monotonic() + timeout
        last: M | None = None
        while True:
            try:
                last = await fetch()
            except Exception as exc:
                if not _transient(exc):
                    raise
            else:
                if callback is not None:
                    await maybe_await(callback(last))
                if getattr(last, "status", None) in final:
                    return last
            if deadline is not None and monotonic() + sleep_interval > deadline:
                raise WaitTimeoutError(f"{what} did not finish within {timeout} s", last=last)
            await sleep(sleep_interval)


# -------------------------------------------------------------------------------------------- indexes


class AsyncVideos(_Resource):
    """``/indexes/{index_id}/videos`` (the older name of indexed assets)."""

    async def list(
        self,
        index_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        filename: str | None = None,
        duration: Range | None = None,
        fps: Range | None = None,
        width: Range | None = None,
        height: Range | None = None,
        size: Range | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
        user_metadata: Metadata | None = None,
    ) -> AsyncPager[Video]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "filename": filename,
            "duration": duration,
            "fps": fps,
            "width": width,
            "height": height,
            "size": size,
            "created_at": created_at,
            "updated_at": updated_at,
            "user_metadata": user_metadata,
        }
        return await self._pager(path("indexes/{}/videos", index_id), params, Video, page=page)

    async def retrieve(
        self,
        index_id: str,
        video_id: str,
        *,
        embedding_option: StrOrList | None = None,
        transcription: bool | None = None,
    ) -> Video:
        return await self._http.model(
            "GET",
            path("indexes/{}/videos/{}", index_id, video_id),
            Video,
            params={"embedding_option": embedding_option, "transcription": transcription},
        )

    async def update(self, index_id: str, video_id: str, *, user_metadata: Metadata) -> None:
        await self._http.none(
            "PATCH", path("indexes/{}/videos/{}", index_id, video_id), json={"user_metadata": user_metadata}
        )

    async def delete(self, index_id: str, video_id: str) -> None:
        await self._http.none("DELETE", path("indexes/{}/videos/{}", index_id, video_id))


class AsyncIndexedAssets(_Resource):
    """``/indexes/{index_id}/indexed-assets``: assets indexed into an index."""

    async def list(
        self,
        index_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        status: StrOrList | None = None,
        filename: str | None = None,
        duration: Range | None = None,
        fps: Range | None = None,
        width: Range | None = None,
        height: Range | None = None,
        size: Range | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
        user_metadata: Metadata | None = None,
    ) -> AsyncPager[IndexedAsset]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "status": status,
            "filename": filename,
            "duration": duration,
            "fps": fps,
            "width": width,
            "height": height,
            "size": size,
            "created_at": created_at,
            "updated_at": updated_at,
            "user_metadata": user_metadata,
        }
        return await self._pager(path("indexes/{}/indexed-assets", index_id), params, IndexedAsset, page=page)

    async def create(
        self,
        index_id: str,
        *,
        asset_id: str,
        enable_video_stream: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> IndexedAssetCreateResponse:
        body = json_body(
            asset_id=asset_id, enable_video_stream=enable_video_stream, user_metadata=user_metadata
        )
        return await self._http.model(
            "POST", path("indexes/{}/indexed-assets", index_id), IndexedAssetCreateResponse, json=body
        )

    async def retrieve(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        embedding_option: StrOrList | None = None,
        transcription: bool | None = None,
    ) -> IndexedAsset:
        return await self._http.model(
            "GET",
            path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id),
            IndexedAsset,
            params={"embedding_option": embedding_option, "transcription": transcription},
        )

    async def update(self, index_id: str, indexed_asset_id: str, *, user_metadata: Metadata) -> None:
        await self._http.none(
            "PATCH",
            path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id),
            json={"user_metadata": user_metadata},
        )

    async def delete(self, index_id: str, indexed_asset_id: str) -> None:
        await self._http.none("DELETE", path("indexes/{}/indexed-assets/{}", index_id, indexed_asset_id))

    async def list_by_asset(
        self, asset_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> AsyncPager[IndexedAssetSummary]:
        return await self._pager(
            path("assets/{}/indexed-assets", asset_id),
            {"page_limit": page_limit},
            IndexedAssetSummary,
            page=page,
        )

    async def wait_for_done(
        self,
        index_id: str,
        indexed_asset_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[IndexedAsset], Any] | None = None,
        timeout: float | None = None,
    ) -> IndexedAsset:
        """Poll until the indexed asset is ``ready`` or ``failed``."""
        return await self._poll(
            functools.partial(self.retrieve, index_id, indexed_asset_id),
            TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"indexed asset {indexed_asset_id}",
        )


class AsyncIndexes(_Resource):
    """``/indexes``."""

    def __init__(self, http: AsyncHTTP) -> None:
        super().__init__(http)
        self.videos = AsyncVideos(http)
        self.indexed_assets = AsyncIndexedAssets(http)

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        index_name: str | None = None,
        model_options: str | None = None,
        model_family: str | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> AsyncPager[Index]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "index_name": index_name,
            "model_options": model_options,
            "model_family": model_family,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        return await self._pager("indexes", params, Index, page=page)

    async def create(
        self,
        *,
        index_name: str,
        models: Sequence[Mapping[str, Any] | Model],
        addons: Sequence[str] | None = None,
    ) -> IndexCreateResponse:
        body = json_body(
            index_name=index_name, models=list(models), addons=None if addons is None else list(addons)
        )
        return await self._http.model("POST", "indexes", IndexCreateResponse, json=body)

    async def retrieve(self, index_id: str) -> Index:
        return await self._http.model("GET", path("indexes/{}", index_id), Index)

    async def update(self, index_id: str, *, index_name: str) -> None:
        await self._http.none("PUT", path("indexes/{}", index_id), json={"index_name": index_name})

    async def delete(self, index_id: str) -> None:
        await self._http.none("DELETE", path("indexes/{}", index_id))


# ---------------------------------------------------------------------------------------------- tasks


class AsyncTasks(_Resource):
    """``/tasks``: upload a video and index it in one call (the older flow; assets + indexed assets is
    the newer one)."""

    def _bind(self, task: AsyncTask) -> AsyncTask:
        task._client = self
        return task

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        index_id: str | None = None,
        status: StrOrList | None = None,
        filename: str | None = None,
        duration: float | None = None,
        width: int | None = None,
        height: int | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> AsyncPager[AsyncTask]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "index_id": index_id,
            "status": status,
            "filename": filename,
            "duration": duration,
            "width": width,
            "height": height,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        return await self._pager("tasks", params, AsyncTask, page=page, transform=self._bind)

    async def create(
        self,
        *,
        index_id: str,
        video_file: FileInput | None = None,
        video_url: str | None = None,
        enable_video_stream: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> AsyncTask:
        """Upload ``video_file`` (a path, bytes, a binary file object or a ``(name, content[, type])``
        tuple) or have the server fetch ``video_url``, and index it into ``index_id``."""
        if video_file is None and video_url is None:
            raise ValueError("give video_file or video_url")
        body = multipart(
            {
                "index_id": index_id,
                "video_url": video_url,
                "enable_video_stream": enable_video_stream,
                "user_metadata": user_metadata,
            },
            [("video_file", video_file)],
        )
        task = await self._http.model("POST", "tasks", AsyncTask, body=body)
        if task.index_id is None:
            task.index_id = index_id
        return self._bind(task)

    async def retrieve(self, task_id: str) -> AsyncTask:
        return self._bind(await self._http.model("GET", path("tasks/{}", task_id), AsyncTask))

    async def delete(self, task_id: str) -> None:
        await self._http.none("DELETE", path("tasks/{}", task_id))

    async def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[AsyncTask], Any] | None = None,
        timeout: float | None = None,
    ) -> AsyncTask:
        """Poll ``GET /tasks/{task_id}`` now and every ``sleep_interval`` s until the status is ``ready`` or
        ``failed``; ``callback`` gets the task after each poll. Raises
        :class:`~framedex.errors.WaitTimeoutError` after ``timeout`` s (default: wait forever)."""
        return await self._poll(
            functools.partial(self.retrieve, task_id),
            TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"task {task_id}",
        )


# --------------------------------------------------------------------------------------------- assets


class AsyncAssets(_Resource):
    """``/assets``: uploaded media, reusable across indexes."""

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        asset_ids: StrOrList | None = None,
        asset_types: StrOrList | None = None,
        filename: str | None = None,
    ) -> AsyncPager[Asset]:
        params = {
            "page_limit": page_limit,
            "asset_ids": asset_ids,
            "asset_types": asset_types,
            "filename": filename,
        }
        return await self._pager("assets", params, Asset, page=page)

    async def create(
        self,
        *,
        method: str | None = None,
        file: FileInput | None = None,
        url: str | None = None,
        filename: str | None = None,
        enable_hls: bool | None = None,
        enable_thumbnail: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> Asset:
        """Upload ``file`` (``method="direct"``) or have the server fetch ``url`` (``method="url"``);
        ``method`` defaults to whichever of the two is given."""
        if method is None:
            if file is not None:
                method = "direct"
            elif url is not None:
                method = "url"
            else:
                raise ValueError("give file or url")
        body = multipart(
            {
                "method": method,
                "url": url,
                "filename": filename,
                "enable_hls": enable_hls,
                "enable_thumbnail": enable_thumbnail,
                "user_metadata": user_metadata,
            },
            [("file", file)],
        )
        return await self._http.model("POST", "assets", Asset, body=body)

    async def retrieve(self, asset_id: str) -> Asset:
        return await self._http.model("GET", path("assets/{}", asset_id), Asset)

    async def delete(self, asset_id: str, *, force: bool | None = None) -> None:
        await self._http.none("DELETE", path("assets/{}", asset_id), params={"force": force})

    async def retrieve_transcription(
        self, asset_id: str, *, include: StrOrList | None = None
    ) -> AssetTranscription:
        return await self._http.model(
            "GET", path("assets/{}/transcription", asset_id), AssetTranscription, params={"include": include}
        )

    async def replace_user_metadata(self, asset_id: str, *, user_metadata: Metadata) -> None:
        await self._http.none(
            "PUT", path("assets/{}/user-metadata", asset_id), json={"user_metadata": user_metadata}
        )

    async def update_user_metadata(self, asset_id: str, *, user_metadata: Metadata) -> None:
        """Merge keys into the asset's metadata; a key set to ``None`` is removed."""
        await self._http.none(
            "PATCH", path("assets/{}/user-metadata", asset_id), json={"user_metadata": user_metadata}
        )

    async def delete_user_metadata(self, asset_id: str) -> None:
        await self._http.none("DELETE", path("assets/{}/user-metadata", asset_id))

    async def wait_for_ready(
        self,
        asset_id: str,
        *,
        sleep_interval: float = 2.0,
        callback: Callable[[Asset], Any] | None = None,
        timeout: float | None = None,
    ) -> Asset:
        """Poll until the asset is ``ready`` or ``failed``."""
        return await self._poll(
            functools.partial(self.retrieve, asset_id),
            ("ready", "failed"),
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"asset {asset_id}",
        )


# ------------------------------------------------------------------------------------ multipart upload


class AsyncMultipartUpload(_Resource):
    """``/assets/multipart-uploads``: large uploads in chunks PUT to presigned URLs."""

    async def list_incomplete_uploads(
        self, *, page: int | None = None, page_limit: int | None = None
    ) -> AsyncPager[IncompleteUpload]:
        return await self._pager(
            "assets/multipart-uploads", {"page_limit": page_limit}, IncompleteUpload, page=page
        )

    async def create(
        self,
        *,
        filename: str,
        total_size: int,
        type: str = "video",
        enable_hls: bool | None = None,
        enable_thumbnail: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> MultipartUploadSession:
        body = json_body(
            filename=filename,
            type=type,
            total_size=total_size,
            enable_hls=enable_hls,
            enable_thumbnail=enable_thumbnail,
            user_metadata=user_metadata,
        )
        return await self._http.model("POST", "assets/multipart-uploads", MultipartUploadSession, json=body)

    async def get_status(
        self, upload_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> AsyncPager[ChunkInfo]:
        """A pager over the upload's chunks; ``.first_page`` is the :class:`UploadStatus` itself."""
        return await self._pager(
            path("assets/multipart-uploads/{}", upload_id),
            {"page_limit": page_limit},
            ChunkInfo,
            page=page,
            items_key="uploaded_chunks",
            page_model=UploadStatus,
        )

    async def report_chunk_batch(
        self, upload_id: str, *, completed_chunks: Sequence[CompletedChunk | Mapping[str, Any]]
    ) -> ChunkBatchReport:
        return await self._http.model(
            "POST",
            path("assets/multipart-uploads/{}", upload_id),
            ChunkBatchReport,
            json={"completed_chunks": list(completed_chunks)},
        )

    async def get_additional_presigned_urls(self, upload_id: str, *, start: int, count: int) -> PresignedUrls:
        return await self._http.model(
            "POST",
            path("assets/multipart-uploads/{}/presigned-urls", upload_id),
            PresignedUrls,
            json={"start": start, "count": count},
        )

    async def upload_file(
        self,
        file_path: str | os.PathLike[str],
        *,
        filename: str | None = None,
        file_type: str = "video",
        batch_size: int = 10,
        max_workers: int = 5,
        progress_callback: Callable[[UploadProgress], Any] | None = None,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        enable_hls: bool | None = None,
        enable_thumbnail: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> UploadResult:
        """Upload a file in chunks: create the upload, PUT each chunk to its presigned URL (``max_workers``
        at a time, each retried ``max_retries`` times), report each batch of ``batch_size`` chunks with
        their ETags, and return the asset once the server says the upload is complete."""
        source = Path(os.fspath(file_path))
        total_size = source.stat().st_size
        upload = await self.create(
            filename=filename or source.name,
            total_size=total_size,
            type=file_type,
            enable_hls=enable_hls,
            enable_thumbnail=enable_thumbnail,
            user_metadata=user_metadata,
        )
        if not upload.upload_id or not upload.chunk_size:
            raise UploadError("the server did not return an upload_id and a chunk_size")
        upload_id = upload.upload_id
        chunk_size = upload.chunk_size
        total_chunks = max(1, math.ceil(total_size / chunk_size))
        urls: dict[int, str] = {
            u.chunk_index: u.url for u in upload.upload_urls or [] if u.chunk_index is not None and u.url
        }
        headers = dict(upload.upload_headers or {})

        async def fetch_urls(indices: Sequence[int]) -> None:
            missing = sorted(i for i in indices if i not in urls)
            while missing:
                start = missing[0]
                count = min(MAX_PRESIGNED_PER_CALL, missing[-1] - start + 1)
                fresh = await self.get_additional_presigned_urls(upload_id, start=start, count=count)
                for u in fresh.upload_urls or []:
                    if u.chunk_index is not None and u.url:
                        urls[u.chunk_index] = u.url
                still = [i for i in missing if i not in urls]
                if still and still[0] == start:
                    raise UploadError(
                        f"the server returned no upload URL for chunk {start}", chunk_index=start
                    )
                missing = still

        async def put_chunk(index: int) -> CompletedChunk:
            offset = (index - 1) * chunk_size
            with source.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(chunk_size)
            error: BaseException | None = None
            for attempt in range(max(1, max_retries)):
                try:
                    response = await self._http.put_chunk(urls[index], data, headers)
                except (httpx.TransportError, ApiError) as exc:
                    error = exc
                    if isinstance(exc, ApiError) and exc.status_code in (401, 403, 404, 410):
                        urls.pop(index, None)  # expired or refused URL: ask for a fresh one
                        await fetch_urls([index])
                    if attempt + 1 < max(1, max_retries):
                        await sleep(retry_delay * (2**attempt))
                    continue
                etag = response.headers.get("etag", "").strip().strip('"')
                if not etag:
                    raise UploadError(f"chunk {index}: the upload URL returned no ETag", chunk_index=index)
                return CompletedChunk(chunk_index=index, proof=etag, proof_type="etag", chunk_size=len(data))
            raise UploadError(
                f"chunk {index} failed after {max(1, max_retries)} attempts: {error}",
                chunk_index=index,
                original_error=error,
            )

        done = 0
        report: ChunkBatchReport | None = None
        step = max(1, batch_size)
        for first in range(1, total_chunks + 1, step):
            batch = list(range(first, min(first + step, total_chunks + 1)))
            await fetch_urls(batch)
            completed = await run_limited([functools.partial(put_chunk, i) for i in batch], max_workers)
            report = await self.report_chunk_batch(upload_id, completed_chunks=completed)
            done += len(batch)
            if progress_callback is not None:
                status = "completed" if done >= total_chunks else "uploading"
                await maybe_await(
                    progress_callback(
                        UploadProgress(
                            total_chunks=total_chunks,
                            completed_chunks=done,
                            percentage=100.0 * done / total_chunks,
                            status=status,
                        )
                    )
                )
        asset_id = (report.asset_id if report else None) or upload.asset_id
        return UploadResult(asset_id=asset_id, asset_url=report.url if report else None, upload_id=upload_id)


# --------------------------------------------------------------------------------------------- search


def _search_form(
    *,
    index_id: str,
    search_options: Sequence[str],
    query_text: str | None,
    query_media_type: str | None,
    query_media_url: str | None,
    query_media_urls: Sequence[str] | None,
    transcription_options: Sequence[str] | None,
    group_by: str | None,
    operator: str | None,
    page_limit: int | None,
    filter: Mapping[str, Any] | str | None,
    include_user_metadata: bool | None,
    has_files: bool,
) -> dict[str, Any]:
    urls = ([query_media_url] if query_media_url else []) + list(query_media_urls or [])
    if query_media_type is None and (urls or has_files):
        query_media_type = "image"
    if isinstance(search_options, str):
        search_options = [search_options]
    if isinstance(transcription_options, str):
        transcription_options = [transcription_options]
    return {
        "query_media_type": query_media_type,
        "query_media_url": urls or None,
        "query_text": query_text,
        "index_id": index_id,
        "search_options": list(search_options),
        "transcription_options": None if transcription_options is None else list(transcription_options),
        "group_by": group_by,
        "operator": operator,
        "page_limit": page_limit,
        "filter": filter,
        "include_user_metadata": include_user_metadata,
    }


class AsyncSearch(_Resource):
    """``/search``."""

    async def create(
        self,
        *,
        index_id: str,
        search_options: Sequence[str],
        query_text: str | None = None,
        query_media_type: str | None = None,
        query_media_url: str | None = None,
        query_media_file: FileInput | None = None,
        query_media_urls: Sequence[str] | None = None,
        query_media_files: Sequence[FileInput] | None = None,
        transcription_options: Sequence[str] | None = None,
        group_by: str | None = None,
        operator: str | None = None,
        page_limit: int | None = None,
        filter: Mapping[str, Any] | str | None = None,
        include_user_metadata: bool | None = None,
    ) -> SearchResults:
        """One page of results (``POST /search``); see :meth:`query` to iterate over every hit."""
        files = ([query_media_file] if query_media_file is not None else []) + list(query_media_files or [])
        form = _search_form(
            index_id=index_id,
            search_options=search_options,
            query_text=query_text,
            query_media_type=query_media_type,
            query_media_url=query_media_url,
            query_media_urls=query_media_urls,
            transcription_options=transcription_options,
            group_by=group_by,
            operator=operator,
            page_limit=page_limit,
            filter=filter,
            include_user_metadata=include_user_metadata,
            has_files=bool(files),
        )
        body = multipart(form, [("query_media_file", f) for f in files])
        return await self._http.model("POST", "search", SearchResults, body=body)

    async def retrieve(self, page_token: str, *, include_user_metadata: bool | None = None) -> SearchResults:
        """The page of results for ``page_token`` (``GET /search/{page_token}``)."""
        return await self._http.model(
            "GET",
            path("search/{}", page_token),
            SearchResults,
            params={"include_user_metadata": include_user_metadata},
        )

    async def query(
        self,
        *,
        index_id: str,
        search_options: Sequence[str],
        query_text: str | None = None,
        query_media_type: str | None = None,
        query_media_url: str | None = None,
        query_media_file: FileInput | None = None,
        query_media_urls: Sequence[str] | None = None,
        query_media_files: Sequence[FileInput] | None = None,
        transcription_options: Sequence[str] | None = None,
        group_by: str | None = None,
        operator: str | None = None,
        page_limit: int | None = None,
        filter: Mapping[str, Any] | str | None = None,
        include_user_metadata: bool | None = None,
    ) -> AsyncSearchPager:
        """Search and iterate over every hit, following ``next_page_token`` (``GET /search/{token}``)."""
        first = await self.create(
            index_id=index_id,
            search_options=search_options,
            query_text=query_text,
            query_media_type=query_media_type,
            query_media_url=query_media_url,
            query_media_file=query_media_file,
            query_media_urls=query_media_urls,
            query_media_files=query_media_files,
            transcription_options=transcription_options,
            group_by=group_by,
            operator=operator,
            page_limit=page_limit,
            filter=filter,
            include_user_metadata=include_user_metadata,
        )

        async def fetch(token: str) -> SearchResults:
            return await self.retrieve(token, include_user_metadata=include_user_metadata)

        return AsyncSearchPager(fetch, first)


# -------------------------------------------------------------------------------------------- analyze


def _stream_event(data: Any) -> Any:
    from framedex.client.types import STREAM_EVENTS

    if not isinstance(data, dict):
        return None
    model = STREAM_EVENTS.get(str(data.get("event_type")))
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValueError:
        return None


def _batch_item(data: Any) -> BatchResultItem | None:
    if not isinstance(data, dict):
        return None
    try:
        return BatchResultItem.model_validate(data)
    except ValueError:
        return None


def analyze_body(
    *,
    video_id: str | None = None,
    video: Mapping[str, Any] | None = None,
    image: Sequence[Mapping[str, Any]] | None = None,
    prompt: str | None = None,
    prompt_v2: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    if video_id is not None and video is not None:
        raise ValueError("give video_id or video, not both")
    body = json_body(
        video_id=video_id,
        video=video,
        image=None if image is None else list(image),
        prompt=prompt,
        prompt_v2=prompt_v2,
        **fields,
    )
    return body


class AsyncAnalyzeTasks(_Resource):
    """``/analyze/tasks``: asynchronous analysis."""

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        status: str | None = None,
        video_url: str | None = None,
        asset_id: str | None = None,
        analysis_mode: str | None = None,
    ) -> AnalyzeTaskList:
        """One page (this list is not auto-paged, as in the official SDK)."""
        params = {
            "page": page,
            "page_limit": page_limit,
            "status": status,
            "video_url": video_url,
            "asset_id": asset_id,
            "analysis_mode": analysis_mode,
        }
        return await self._http.model("GET", "analyze/tasks", AnalyzeTaskList, params=params)

    async def create(
        self,
        *,
        video: Mapping[str, Any] | None = None,
        video_id: str | None = None,
        image: Sequence[Mapping[str, Any]] | None = None,
        prompt: str | None = None,
        prompt_v2: Mapping[str, Any] | None = None,
        model_name: str | None = None,
        custom_id: str | None = None,
        analysis_mode: str | None = None,
        temperature: float | None = None,
        max_tokens: int | str | None = None,
        response_format: Mapping[str, Any] | None = None,
        min_segment_duration: float | None = None,
        max_segment_duration: float | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> AnalyzeTaskCreateResponse:
        body = analyze_body(
            video_id=video_id,
            video=video,
            image=image,
            prompt=prompt,
            prompt_v2=prompt_v2,
            model_name=model_name,
            custom_id=custom_id,
            analysis_mode=analysis_mode,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format=response_format,
            min_segment_duration=min_segment_duration,
            max_segment_duration=max_segment_duration,
            start_time=start_time,
            end_time=end_time,
        )
        return await self._http.model("POST", "analyze/tasks", AnalyzeTaskCreateResponse, json=body)

    async def retrieve(self, task_id: str) -> AnalyzeTask:
        return await self._http.model("GET", path("analyze/tasks/{}", task_id), AnalyzeTask)

    async def delete(self, task_id: str) -> None:
        await self._http.none("DELETE", path("analyze/tasks/{}", task_id))

    async def cancel(self, task_id: str) -> AnalyzeTask:
        return await self._http.model("POST", path("analyze/tasks/{}/cancel", task_id), AnalyzeTask)

    async def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[AnalyzeTask], Any] | None = None,
        timeout: float | None = None,
    ) -> AnalyzeTask:
        """Poll until the task is ``ready``, ``failed`` or ``canceled``."""
        return await self._poll(
            functools.partial(self.retrieve, task_id),
            ANALYZE_TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"analyze task {task_id}",
        )


class AsyncAnalyzeBatches(_Resource):
    """``/analyze/batches``."""

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        status: StrOrList | None = None,
        analysis_mode: StrOrList | None = None,
    ) -> AsyncPager[AnalyzeBatch]:
        params = {"page_limit": page_limit, "status": status, "analysis_mode": analysis_mode}
        return await self._pager("analyze/batches", params, AnalyzeBatch, page=page)

    async def create(
        self,
        *,
        requests: Sequence[Mapping[str, Any]],
        model_name: str = "pegasus1.5",
        analysis_mode: str = "general",
        defaults: Mapping[str, Any] | None = None,
    ) -> AnalyzeBatchCreateResponse:
        body = json_body(
            model_name=model_name, analysis_mode=analysis_mode, defaults=defaults, requests=list(requests)
        )
        return await self._http.model("POST", "analyze/batches", AnalyzeBatchCreateResponse, json=body)

    async def retrieve(self, batch_id: str) -> AnalyzeBatch:
        return await self._http.model("GET", path("analyze/batches/{}", batch_id), AnalyzeBatch)

    async def delete(self, batch_id: str) -> None:
        await self._http.none("DELETE", path("analyze/batches/{}", batch_id))

    async def results(self, batch_id: str) -> AsyncStream[BatchResultItem]:
        """The batch's results, one item per JSON line (``GET /analyze/batches/{id}/results``)."""
        response = await self._http.request("GET", path("analyze/batches/{}/results", batch_id), stream=True)
        return AsyncStream(response, _batch_item)

    async def cancel(self, batch_id: str) -> AnalyzeBatch:
        return await self._http.model("POST", path("analyze/batches/{}/cancel", batch_id), AnalyzeBatch)


class AsyncAnalyzeAsync:
    """``client.analyze_async``: ``.tasks`` and ``.batches``."""

    def __init__(self, http: AsyncHTTP) -> None:
        self.tasks = AsyncAnalyzeTasks(http)
        self.batches = AsyncAnalyzeBatches(http)


# ------------------------------------------------------------------------------------------ embedding


class AsyncEmbedTasks(_Resource):
    """``/embed/tasks`` (v1 video embedding tasks)."""

    async def list(
        self,
        *,
        started_at: str | None = None,
        ended_at: str | None = None,
        status: str | None = None,
        page: int | None = None,
        page_limit: int | None = None,
    ) -> AsyncPager[EmbedTask]:
        params = {"started_at": started_at, "ended_at": ended_at, "status": status, "page_limit": page_limit}
        return await self._pager("embed/tasks", params, EmbedTask, page=page)

    async def create(
        self,
        *,
        model_name: str,
        video_file: FileInput | None = None,
        video_url: str | None = None,
        video_start_offset_sec: float | None = None,
        video_end_offset_sec: float | None = None,
        video_clip_length: float | None = None,
        video_embedding_scope: StrOrList | None = None,
    ) -> EmbedTaskCreateResponse:
        if isinstance(video_embedding_scope, str):
            video_embedding_scope = [video_embedding_scope]
        body = multipart(
            {
                "model_name": model_name,
                "video_url": video_url,
                "video_start_offset_sec": video_start_offset_sec,
                "video_end_offset_sec": video_end_offset_sec,
                "video_clip_length": video_clip_length,
                "video_embedding_scope": None
                if video_embedding_scope is None
                else list(video_embedding_scope),
            },
            [("video_file", video_file)],
        )
        return await self._http.model("POST", "embed/tasks", EmbedTaskCreateResponse, body=body)

    async def retrieve(self, task_id: str, *, embedding_option: StrOrList | None = None) -> EmbedTask:
        return await self._http.model(
            "GET", path("embed/tasks/{}", task_id), EmbedTask, params={"embedding_option": embedding_option}
        )

    async def status(self, task_id: str) -> EmbedTask:
        return await self._http.model("GET", path("embed/tasks/{}/status", task_id), EmbedTask)

    async def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[EmbedTask], Any] | None = None,
        timeout: float | None = None,
    ) -> EmbedTask:
        """Poll ``GET /embed/tasks/{id}/status`` until ``ready`` or ``failed``."""
        return await self._poll(
            functools.partial(self.status, task_id),
            EMBED_TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"embedding task {task_id}",
        )


class AsyncEmbedV2Tasks(_Resource):
    """``/embed-v2/tasks``."""

    async def list(
        self,
        *,
        started_at: str | None = None,
        ended_at: str | None = None,
        status: str | None = None,
        page: int | None = None,
        page_limit: int | None = None,
    ) -> AsyncPager[EmbedV2Task]:
        params = {"started_at": started_at, "ended_at": ended_at, "status": status, "page_limit": page_limit}
        return await self._pager("embed-v2/tasks", params, EmbedV2Task, page=page)

    async def create(
        self,
        *,
        input_type: str,
        model_name: str,
        video: Mapping[str, Any] | None = None,
        audio: Mapping[str, Any] | None = None,
        image: Mapping[str, Any] | None = None,
        document: Mapping[str, Any] | None = None,
        embedding_uncertainty: bool | None = None,
        embedding_dimension: int | None = None,
    ) -> EmbedV2Task:
        body = json_body(
            input_type=input_type,
            model_name=model_name,
            embedding_uncertainty=embedding_uncertainty,
            embedding_dimension=embedding_dimension,
            audio=audio,
            video=video,
            document=document,
            image=image,
        )
        return await self._http.model("POST", "embed-v2/tasks", EmbedV2Task, json=body)

    async def retrieve(self, task_id: str) -> EmbedV2Task:
        return await self._http.model("GET", path("embed-v2/tasks/{}", task_id), EmbedV2Task)

    async def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[EmbedV2Task], Any] | None = None,
        timeout: float | None = None,
    ) -> EmbedV2Task:
        """Poll until ``ready`` or ``failed``."""
        return await self._poll(
            functools.partial(self.retrieve, task_id),
            EMBED_TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"embedding task {task_id}",
        )


class AsyncEmbedV2(_Resource):
    """``/embed-v2``."""

    def __init__(self, http: AsyncHTTP) -> None:
        super().__init__(http)
        self.tasks = AsyncEmbedV2Tasks(http)

    async def create(
        self,
        *,
        input_type: str,
        model_name: str,
        text: str | Mapping[str, Any] | None = None,
        image: Mapping[str, Any] | None = None,
        text_image: Mapping[str, Any] | None = None,
        audio: Mapping[str, Any] | None = None,
        video: Mapping[str, Any] | None = None,
        multi_input: Mapping[str, Any] | None = None,
        auto_truncate: bool | None = None,
        embedding_uncertainty: bool | None = None,
        embedding_dimension: int | None = None,
    ) -> EmbeddingV2Response:
        """Embed synchronously; ``text`` may be a plain string (sent as ``{"input_text": text}``)."""
        if isinstance(text, str):
            text = {"input_text": text}
        body = json_body(
            input_type=input_type,
            model_name=model_name,
            auto_truncate=auto_truncate,
            embedding_uncertainty=embedding_uncertainty,
            embedding_dimension=embedding_dimension,
            text=text,
            image=image,
            text_image=text_image,
            audio=audio,
            video=video,
            multi_input=multi_input,
        )
        return await self._http.model("POST", "embed-v2", EmbeddingV2Response, json=body)


class AsyncEmbed(_Resource):
    """``/embed`` (v1), with ``.tasks`` (v1) and ``.v_2`` (the v2 API)."""

    def __init__(self, http: AsyncHTTP) -> None:
        super().__init__(http)
        self.tasks = AsyncEmbedTasks(http)
        self.v_2 = AsyncEmbedV2(http)

    async def create(
        self,
        *,
        model_name: str,
        text: str | None = None,
        text_truncate: str | None = None,
        image_url: str | None = None,
        image_file: FileInput | None = None,
        audio_url: str | None = None,
        audio_file: FileInput | None = None,
        audio_start_offset_sec: float | None = None,
    ) -> EmbeddingResponse:
        body = multipart(
            {
                "model_name": model_name,
                "text": text,
                "text_truncate": text_truncate,
                "image_url": image_url,
                "audio_url": audio_url,
                "audio_start_offset_sec": audio_start_offset_sec,
            },
            [("image_file", image_file), ("audio_file", audio_file)],
        )
        return await self._http.model("POST", "embed", EmbeddingResponse, body=body)


# ------------------------------------------------------------------------------------------- entities


class AsyncEntities(_Resource):
    """``/entity-collections/{id}/entities`` and ``/assets/{id}/entities``."""

    async def list(
        self,
        entity_collection_id: str,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        name: str | None = None,
        status: str | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> AsyncPager[Entity]:
        params = {
            "page_limit": page_limit,
            "name": name,
            "status": status,
            "sort_by": sort_by,
            "sort_option": sort_option,
        }
        return await self._pager(
            path("entity-collections/{}/entities", entity_collection_id), params, Entity, page=page
        )

    async def create(
        self,
        entity_collection_id: str,
        *,
        name: str,
        asset_ids: Sequence[str],
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Entity:
        body = json_body(name=name, description=description, metadata=metadata, asset_ids=list(asset_ids))
        return await self._http.model(
            "POST", path("entity-collections/{}/entities", entity_collection_id), Entity, json=body
        )

    async def create_bulk(
        self, entity_collection_id: str, *, entities: Sequence[Mapping[str, Any]]
    ) -> BulkCreateEntityResponse:
        return await self._http.model(
            "POST",
            path("entity-collections/{}/entities/bulk", entity_collection_id),
            BulkCreateEntityResponse,
            json={"entities": list(entities)},
        )

    async def retrieve(self, entity_collection_id: str, entity_id: str) -> Entity:
        return await self._http.model(
            "GET", path("entity-collections/{}/entities/{}", entity_collection_id, entity_id), Entity
        )

    async def update(
        self,
        entity_collection_id: str,
        entity_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Entity:
        return await self._http.model(
            "PATCH",
            path("entity-collections/{}/entities/{}", entity_collection_id, entity_id),
            Entity,
            json=json_body(name=name, description=description, metadata=metadata),
        )

    async def delete(self, entity_collection_id: str, entity_id: str) -> None:
        await self._http.none(
            "DELETE", path("entity-collections/{}/entities/{}", entity_collection_id, entity_id)
        )

    async def create_assets(
        self, entity_collection_id: str, entity_id: str, *, asset_ids: Sequence[str]
    ) -> Entity:
        return await self._http.model(
            "POST",
            path("entity-collections/{}/entities/{}/assets", entity_collection_id, entity_id),
            Entity,
            json={"asset_ids": list(asset_ids)},
        )

    async def delete_assets(
        self, entity_collection_id: str, entity_id: str, *, asset_ids: Sequence[str]
    ) -> Entity:
        """``DELETE`` with a JSON body ``{"asset_ids": [...]}``; returns the updated entity."""
        return await self._http.model(
            "DELETE",
            path("entity-collections/{}/entities/{}/assets", entity_collection_id, entity_id),
            Entity,
            json={"asset_ids": list(asset_ids)},
        )

    async def list_by_asset(
        self, asset_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> AsyncPager[Entity]:
        return await self._pager(
            path("assets/{}/entities", asset_id), {"page_limit": page_limit}, Entity, page=page
        )


class AsyncEntityCollections(_Resource):
    """``/entity-collections``."""

    def __init__(self, http: AsyncHTTP) -> None:
        super().__init__(http)
        self.entities = AsyncEntities(http)

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        name: str | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
    ) -> AsyncPager[EntityCollection]:
        params = {"page_limit": page_limit, "name": name, "sort_by": sort_by, "sort_option": sort_option}
        return await self._pager("entity-collections", params, EntityCollection, page=page)

    async def create(self, *, name: str, description: str | None = None) -> EntityCollection:
        return await self._http.model(
            "POST", "entity-collections", EntityCollection, json=json_body(name=name, description=description)
        )

    async def retrieve(self, entity_collection_id: str) -> EntityCollection:
        return await self._http.model(
            "GET", path("entity-collections/{}", entity_collection_id), EntityCollection
        )

    async def update(
        self, entity_collection_id: str, *, name: str | None = None, description: str | None = None
    ) -> EntityCollection:
        return await self._http.model(
            "PATCH",
            path("entity-collections/{}", entity_collection_id),
            EntityCollection,
            json=json_body(name=name, description=description),
        )

    async def delete(self, entity_collection_id: str) -> None:
        await self._http.none("DELETE", path("entity-collections/{}", entity_collection_id))
