"""``client.embed.v_2.tasks``: ``/embed-v2/tasks``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import EMBED_TASK_FINAL_STATUSES, EmbedV2Task

from .._pagination import AsyncPager
from ._base import _Resource


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
