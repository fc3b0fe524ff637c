"""``client.analyze_async.tasks``: ``/analyze/tasks``."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from framedex.client._base import path
from framedex.client.types import ANALYZE_TASK_FINAL_STATUSES, AnalyzeTask, AnalyzeTaskCreateResponse, AnalyzeTaskList

from ._analyze import analyze_body
from ._base import _Resource


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
