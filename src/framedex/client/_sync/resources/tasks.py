# Generated from _async/resources/tasks.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.tasks``: ``/tasks`` (video indexing tasks)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import FileInput, multipart
from framedex.client.types import TASK_FINAL_STATUSES, Task

from .._http import SyncHTTP
from .._pagination import Pager
from ._base import Metadata, StrOrList, _Resource
from .transfers import Transfers


class Tasks(_Resource):
    """``/tasks``: upload a video and index it in one call (the older flow; assets + indexed assets is
    the newer one)."""

    def __init__(self, http: SyncHTTP) -> None:
        super().__init__(http)
        self.transfers = Transfers(http)

    def _bind(self, task: Task) -> Task:
        task._client = self
        return task

    def list(
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
    ) -> Pager[Task]:
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
        return self._pager("tasks", params, Task, page=page, transform=self._bind)

    def create(
        self,
        *,
        index_id: str,
        video_file: FileInput | None = None,
        video_url: str | None = None,
        enable_video_stream: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> Task:
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
        task = self._http.model("POST", "tasks", Task, body=body)
        if task.index_id is None:
            task.index_id = index_id
        return self._bind(task)

    def retrieve(self, task_id: str) -> Task:
        return self._bind(self._http.model("GET", path("tasks/{}", task_id), Task))

    def delete(self, task_id: str) -> None:
        self._http.none("DELETE", path("tasks/{}", task_id))

    def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[Task], Any] | None = None,
        timeout: float | None = None,
    ) -> Task:
        """Poll ``GET /tasks/{task_id}`` now and every ``sleep_interval`` s until the status is ``ready`` or
        ``failed``; ``callback`` gets the task after each poll. Raises
        :class:`~framedex.errors.WaitTimeoutError` after ``timeout`` s (default: wait forever)."""
        return self._poll(
            functools.partial(self.retrieve, task_id),
            TASK_FINAL_STATUSES,
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"task {task_id}",
        )
