"""Sync flavour of the few primitives that differ between the clients (hand-written, not generated)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeAlias, TypeVar

T = TypeVar("T")

Fetch: TypeAlias = Callable[[int], Any]
Thunk: TypeAlias = Callable[[], T]
TokenFetch: TypeAlias = Callable[[str], Any]


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def monotonic() -> float:
    return time.monotonic()


def maybe_await(value: Any) -> Any:
    return value


def run_limited(jobs: Sequence[Callable[[], T]], limit: int) -> list[T]:
    """Run ``jobs`` on at most ``limit`` threads; results in order; the first error propagates."""
    if limit <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(max_workers=min(limit, len(jobs)), thread_name_prefix="framedex-upload") as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]
