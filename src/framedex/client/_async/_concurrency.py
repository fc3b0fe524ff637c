"""Async flavour of the few primitives that differ between the clients (hand-written, not generated)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeAlias, TypeVar

T = TypeVar("T")

Fetch: TypeAlias = Callable[[int], Awaitable[Any]]
Thunk: TypeAlias = Callable[[], Awaitable[T]]
TokenFetch: TypeAlias = Callable[[str], Awaitable[Any]]


async def sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def monotonic() -> float:
    return asyncio.get_running_loop().time()


async def maybe_await(value: Any) -> Any:
    """Await ``value`` when a callback returned an awaitable (callbacks may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


async def run_limited(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run ``jobs`` with at most ``limit`` at a time; results in order; the first error propagates."""
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with semaphore:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))
