"""``client.embed.tasks``: ``/embed/tasks`` (v1)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import FileInput, multipart
from framedex.client.types import EMBED_TASK_FINAL_STATUSES, EmbedTask, EmbedTaskCreateResponse

from .._pagination import AsyncPager
from ._base import StrOrList, _Resource


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
