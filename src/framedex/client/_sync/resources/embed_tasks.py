# Generated from _async/resources/embed_tasks.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.embed.tasks``: ``/embed/tasks`` (v1)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import FileInput, multipart
from framedex.client.types import EMBED_TASK_FINAL_STATUSES, EmbedTask, EmbedTaskCreateResponse

from .._pagination import Pager
from ._base import StrOrList, _Resource


class EmbedTasks(_Resource):
    """``/embed/tasks`` (v1 video embedding tasks)."""

    def list(
        self,
        *,
        started_at: str | None = None,
        ended_at: str | None = None,
        status: str | None = None,
        page: int | None = None,
        page_limit: int | None = None,
    ) -> Pager[EmbedTask]:
        params = {"started_at": started_at, "ended_at": ended_at, "status": status, "page_limit": page_limit}
        return self._pager("embed/tasks", params, EmbedTask, page=page)

    def create(
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
        return self._http.model("POST", "embed/tasks", EmbedTaskCreateResponse, body=body)

    def retrieve(self, task_id: str, *, embedding_option: StrOrList | None = None) -> EmbedTask:
        return self._http.model(
            "GET", path("embed/tasks/{}", task_id), EmbedTask, params={"embedding_option": embedding_option}
        )

    def status(self, task_id: str) -> EmbedTask:
        return self._http.model("GET", path("embed/tasks/{}/status", task_id), EmbedTask)

    def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[EmbedTask], Any] | None = None,
        timeout: float | None = None,
    ) -> EmbedTask:
        """Poll ``GET /embed/tasks/{id}/status`` until ``ready`` or ``failed``."""
        return self._poll(
            functools.partial(self.status, task_id),
            EMBED_TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"embedding task {task_id}",
        )
