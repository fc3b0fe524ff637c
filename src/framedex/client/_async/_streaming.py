"""Line-delimited JSON response streams (analysis NDJSON, batch results JSONL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")


class AsyncStream(Generic[T]):
    """Iterate over the parsed lines of a streamed response; lines that are not JSON, or that ``parse``
    rejects (returns ``None``), are skipped. Closes the response when exhausted; usable as a context
    manager to close it early."""

    def __init__(self, response: httpx.Response, parse: Callable[[Any], T | None]) -> None:
        self.response = response
        self._parse = parse

    async def _iterate(self) -> AsyncIterator[T]:
        try:
            async for line in self.response.aiter_lines():
                line = line.strip()
                if not line:
                    continue
                try:
                    data = json.loads(line)
                except ValueError:
                    continue
                item = self._parse(data)
                if item is not None:
                    yield item
        finally:
            await self.response.aclose()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._iterate()

    async def aclose(self) -> None:
        await self.response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
