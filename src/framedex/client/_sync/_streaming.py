# Generated from _async/_streaming.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""Streamed responses: line-delimited JSON (analysis NDJSON, batch results JSONL) and Server-Sent Events
(``/responses``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

T = TypeVar("T")

SSE_DONE = "[DONE]"


class Stream(Generic[T]):
    """Iterate over the parsed items of a streamed response; items that are not JSON, or that ``parse``
    rejects (returns ``None``), are skipped. Closes the response when exhausted; usable as a context
    manager to close it early.

    Framing: one JSON value per line, or with ``sse=True`` Server-Sent Events (the ``data:`` lines of an
    event, joined, are its JSON value; ``event:``, ``id:``, ``retry:`` and comment lines are ignored, and
    ``data: [DONE]`` ends the stream)."""

    def __init__(self, response: httpx.Response, parse: Callable[[Any], T | None], *, sse: bool = False) -> None:
        self.response = response
        self._parse = parse
        self._sse = sse

    def _payloads(self) -> Iterator[str]:
        """The raw JSON texts, one per line or one per event."""
        if not self._sse:
            yield from self.response.iter_lines()
            return
        data: list[str] = []
        for line in self.response.iter_lines():
            line = line.rstrip("\r\n")
            if not line:  # an event ends at a blank line
                if data:
                    yield "\n".join(data)
                data = []
            elif line.startswith("data:"):
                value = line[5:]
                data.append(value[1:] if value.startswith(" ") else value)
        if data:
            yield "\n".join(data)

    def _iterate(self) -> Iterator[T]:
        try:
            for payload in self._payloads():
                payload = payload.strip()
                if not payload:
                    continue
                if self._sse and payload == SSE_DONE:
                    return
                try:
                    data = json.loads(payload)
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
