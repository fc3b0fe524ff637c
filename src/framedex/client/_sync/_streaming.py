# Generated from _async/_streaming.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""Line-delimited JSON response streams (analysis NDJSON, batch results JSONL)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")


class Stream(Generic[T]):
    """Iterate over the parsed lines of a streamed response; lines that are not JSON, or that ``parse``
    rejects (returns ``None``), are skipped. Closes the response when exhausted; usable as a context
    manager to close it early."""

    def __init__(self, response: httpx.Response, parse: Callable[[Any], T | None]) -> None:
        self.response = response
        self._parse = parse

    def _iterate(self) -> Iterator[T]:
        try:
            for line in self.response.iter_lines():
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
            self.response.close()

    def __iter__(self) -> Iterator[T]:
        return self._iterate()

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
