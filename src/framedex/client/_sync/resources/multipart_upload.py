# Generated from _async/resources/multipart_upload.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.multipart_upload``: ``/assets/multipart-uploads``."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import (
    ChunkBatchReport,
    ChunkInfo,
    CompletedChunk,
    IncompleteUpload,
    MultipartUploadSession,
    PresignedUrls,
    UploadProgress,
    UploadResult,
    UploadStatus,
)
from framedex.errors import ApiError, UploadError

from .._concurrency import maybe_await, run_limited, sleep
from .._pagination import Pager
from ._base import Metadata, _Resource

MAX_PRESIGNED_PER_CALL = 50


class MultipartUpload(_Resource):
    """``/assets/multipart-uploads``: large uploads in chunks PUT to presigned URLs."""

    def list_incomplete_uploads(
        self, *, page: int | None = None, page_limit: int | None = None
    ) -> Pager[IncompleteUpload]:
        return self._pager(
            "assets/multipart-uploads", {"page_limit": page_limit}, IncompleteUpload, page=page
        )

    def create(
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
        return self._http.model("POST", "assets/multipart-uploads", MultipartUploadSession, json=body)

    def get_status(
        self, upload_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> Pager[ChunkInfo]:
        """A pager over the upload's chunks; ``.first_page`` is the :class:`UploadStatus` itself."""
        return self._pager(
            path("assets/multipart-uploads/{}", upload_id),
            {"page_limit": page_limit},
            ChunkInfo,
            page=page,
            items_key="uploaded_chunks",
            page_model=UploadStatus,
        )

    def report_chunk_batch(
        self, upload_id: str, *, completed_chunks: Sequence[CompletedChunk | Mapping[str, Any]]
    ) -> ChunkBatchReport:
        return self._http.model(
            "POST",
            path("assets/multipart-uploads/{}", upload_id),
            ChunkBatchReport,
            json={"completed_chunks": list(completed_chunks)},
        )

    def get_additional_presigned_urls(self, upload_id: str, *, start: int, count: int) -> PresignedUrls:
        return self._http.model(
            "POST",
            path("assets/multipart-uploads/{}/presigned-urls", upload_id),
            PresignedUrls,
            json={"start": start, "count": count},
        )

    def upload_file(
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
        upload = self.create(
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

        def fetch_urls(indices: Sequence[int]) -> None:
            missing = sorted(i for i in indices if i not in urls)
            while missing:
                start = missing[0]
                count = min(MAX_PRESIGNED_PER_CALL, missing[-1] - start + 1)
                fresh = self.get_additional_presigned_urls(upload_id, start=start, count=count)
                for u in fresh.upload_urls or []:
                    if u.chunk_index is not None and u.url:
                        urls[u.chunk_index] = u.url
                still = [i for i in missing if i not in urls]
                if still and still[0] == start:
                    raise UploadError(
                        f"the server returned no upload URL for chunk {start}", chunk_index=start
                    )
                missing = still

        def put_chunk(index: int) -> CompletedChunk:
            offset = (index - 1) * chunk_size
            with source.open("rb") as fh:
                fh.seek(offset)
                data = fh.read(chunk_size)
            error: BaseException | None = None
            for attempt in range(max(1, max_retries)):
                try:
                    response = self._http.put_chunk(urls[index], data, headers)
                except (httpx.TransportError, ApiError) as exc:
                    error = exc
                    if isinstance(exc, ApiError) and exc.status_code in (401, 403, 404, 410):
                        urls.pop(index, None)  # expired or refused URL: ask for a fresh one
                        fetch_urls([index])
                    if attempt + 1 < max(1, max_retries):
                        sleep(retry_delay * (2**attempt))
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
            fetch_urls(batch)
            completed = run_limited([functools.partial(put_chunk, i) for i in batch], max_workers)
            report = self.report_chunk_batch(upload_id, completed_chunks=completed)
            done += len(batch)
            if progress_callback is not None:
                status = "completed" if done >= total_chunks else "uploading"
                maybe_await(
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
