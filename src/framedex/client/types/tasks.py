"""Video indexing tasks (``client.tasks``), bound to the client that fetched them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pydantic import Field, PrivateAttr

from .shared import Hls, Model

if TYPE_CHECKING:
    from framedex.client._async.resources.tasks import AsyncTasks
    from framedex.client._sync.resources.tasks import Tasks


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
