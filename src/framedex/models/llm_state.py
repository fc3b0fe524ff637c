"""Saved llama.cpp prompt states: the KV cache of a prompt prefix (a video's timeline) on disk, restored so a
question about a video indexed yesterday skips re-reading its timeline.

How it works with ``xllamacpp``: the embedded llama.cpp server always starts its HTTP listener on a random
loopback port (``Server.listening_address``); its in-process handlers (``handle_chat_completions``) do not
expose slot actions, but the listener serves ``POST /slots/0?action=save|restore`` once ``slot_save_path`` is
set. :class:`LlamaCppBackend` sets that path and a random API key (so no other local process can drive the
listener) and hands each generation to :meth:`SlotStates.turn`, which, under the backend's lock:

* restores the saved state of the request's prefix before the generation when the slot holds another prompt
  (a file per prefix, ``<key>.bin``, with a ``<key>.json`` sidecar holding its size and BLAKE2b digest: a file
  that does not match, or that llama.cpp refuses, is deleted and the request takes the slow path);
* saves the slot after the generation when asked to (:func:`persist_next`, used when a video is prepared) or
  when the prefix's file was found corrupt (it is rebuilt), then evicts the least recently used files above the
  disk budget (``settings.llm_state_disk_mib``).

The prefix of a request is its system message plus its first user message up to :data:`PREFIX_END`; the key
hashes that text with the model's identity (GGUF path, size, mtime, KV type), so a state is only ever restored
for exactly the prompt text and model it was computed from: re-indexed content or a changed template is a new
key, never a stale one.

Generations on a thread inside :func:`background` (index-time preparation) yield to interactive ones: when a
foreground request is waiting for the model, the background generation stops at its next token and raises
:class:`LLMPreempted`; the caller retries later, and the prompt it had processed stays in llama.cpp's cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from framedex.models.llm import LLMError, OnText

log = logging.getLogger(__name__)

__all__ = ["PREFIX_END", "LLMPreempted", "SlotStates", "background", "persist_next", "prefix_key"]

# Where the shared part of an analysis prompt ends (services/analysis.py builds "<timeline>\n\nRequest: <question>").
PREFIX_END = "\n\nRequest: "
# Shorter prefixes are cheap to recompute; saving them would only cost disk.
MIN_PREFIX_CHARS = 1000

_local = threading.local()


class LLMPreempted(LLMError):
    """A background generation stopped because an interactive request was waiting for the model."""


class _Lock(Protocol):
    def acquire(self, blocking: bool = ..., timeout: float = ...) -> bool: ...

    def release(self) -> None: ...


@contextlib.contextmanager
def background(yield_if: Callable[[], bool] | None = None) -> Iterator[None]:
    """Generations on this thread yield to interactive requests (see :class:`LLMPreempted`), and to whatever
    else ``yield_if`` reports (checked at each token; it should be cheap)."""
    before = getattr(_local, "background", False), getattr(_local, "yield_if", None)
    _local.background, _local.yield_if = True, yield_if
    try:
        yield
    finally:
        _local.background, _local.yield_if = before


def persist_next() -> None:
    """Save the prompt state of this thread's next generation (when its prefix is long enough)."""
    _local.persist = True


def prefix_text(messages: list[dict[str, str]]) -> str | None:
    if len(messages) < 2 or messages[0].get("role") != "system" or messages[1].get("role") != "user":
        return None
    content = messages[1].get("content", "")
    cut = content.find(PREFIX_END)
    if cut < 0:
        return None
    return messages[0].get("content", "") + "\x00" + content[: cut + len(PREFIX_END)]


def prefix_key(identity: str, messages: list[dict[str, str]]) -> str | None:
    text = prefix_text(messages)
    if text is None or len(text) < MIN_PREFIX_CHARS:
        return None
    return hashlib.sha256(f"{identity}\x00{text}".encode()).hexdigest()[:40]


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class SlotStates:
    """The saved prompt states of one llama.cpp server (slot 0), in ``directory`` under ``budget_bytes``."""

    def __init__(self, directory: Path, budget_bytes: int, identity: str) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.budget_bytes = int(budget_bytes)
        self.identity = identity
        self.current: str | None = None  # the prefix slot 0 holds, when known
        self._rebuild: set[str] = set()
        self._waiting = 0
        self._mu = threading.Lock()
        self._client: Any = None
        self._url = ""
        self.restores = self.saves = self.failures = 0

    def attach(self, address: str, api_key: str) -> None:
        import httpx

        base = address if address.startswith("http") else f"http://{address}"
        self._url = base.rstrip("/") + "/slots/0"
        # trust_env=False: proxies from the environment must never see a loopback call
        self._client = httpx.Client(timeout=120.0, trust_env=False,
                                    headers={"Authorization": f"Bearer {api_key}"})

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- files --

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.bin"

    def has(self, key: str) -> bool:
        return self.path(key).is_file() and (self.directory / f"{key}.json").is_file()

    def key(self, messages: list[dict[str, str]]) -> str | None:
        return prefix_key(self.identity, messages)

    def forget(self, key: str) -> None:
        for suffix in (".bin", ".json"):
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{key}{suffix}").unlink()

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.directory.glob("*.bin"))

    def _evict(self) -> None:
        files = []
        for p in self.directory.glob("*.bin"):
            with contextlib.suppress(FileNotFoundError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _mtime, size, p in sorted(files):
            if total <= self.budget_bytes:
                break
            self.forget(p.stem)
            total -= size
            log.info("evicted prompt state %s (%.1f MiB) to stay under the disk budget", p.stem, size / 2**20)
        for tmp in self.directory.glob("*.tmp"):  # left by a process killed while saving
            with contextlib.suppress(FileNotFoundError):
                if time.time() - tmp.stat().st_mtime > 3600:
                    tmp.unlink()

    # -- slot actions (the caller holds the backend's lock) --

    def _post(self, action: str, filename: str) -> dict[str, Any]:
        if self._client is None:
            raise LLMError("prompt states are not attached to a server")
        r = self._client.post(self._url, params={"action": action}, json={"filename": filename})
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        if r.status_code != 200 or not isinstance(body, dict) or "error" in body:
            raise LLMError(f"slot {action} failed: HTTP {r.status_code} {r.text[:300]}")
        return body

    def restore(self, key: str) -> bool:
        path, meta_path = self.path(key), self.directory / f"{key}.json"
        if not path.is_file():
            return False
        t0 = time.perf_counter()
        try:
            meta = json.loads(meta_path.read_text())
            if path.stat().st_size != meta["size"] or _digest(path) != meta["digest"]:
                raise LLMError("the file does not match its recorded size and digest")
            body = self._post("restore", path.name)
        except (LLMError, OSError, ValueError, KeyError, TypeError) as exc:
            # corrupt, truncated or half-deleted: drop it, answer from scratch, and save it again afterwards
            log.warning("prompt state %s is unusable (%s); falling back and rebuilding it", key, exc)
            self.forget(key)
            self._rebuild.add(key)
            self.failures += 1
            return False
        with contextlib.suppress(OSError):
            os.utime(path)  # least recently used is by mtime
        self.restores += 1
        log.info("restored prompt state %s (%s tokens) in %.2fs", key, body.get("n_restored"),
                 time.perf_counter() - t0)
        return True

    def save(self, key: str) -> bool:
        if self.budget_bytes <= 0:
            return False
        t0 = time.perf_counter()
        tmp = f"{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            body = self._post("save", tmp)
            tmp_path = self.directory / tmp
            meta: dict[str, Any] = {"size": tmp_path.stat().st_size, "digest": _digest(tmp_path),
                                    "tokens": body.get("n_saved"), "identity": self.identity}
            # the sidecar first: a .bin without one is never restored, so readers never see half a state
            (self.directory / f"{key}.json").write_text(json.dumps(meta))
            os.replace(tmp_path, self.path(key))
        except (LLMError, OSError) as exc:
            log.warning("could not save prompt state %s: %s", key, exc)
            with contextlib.suppress(OSError):
                (self.directory / tmp).unlink()
            return False
        self._rebuild.discard(key)
        self.saves += 1
        log.info("saved prompt state %s (%s tokens, %.1f MiB) in %.2fs", key, meta["tokens"],
                 meta["size"] / 2**20, time.perf_counter() - t0)
        self._evict()
        return True

    # -- hooks for LlamaCppBackend.complete --

    def guard(self, on_text: OnText | None) -> OnText | None:
        """``on_text`` for a generation on this thread: background ones stop when someone is waiting."""
        if not getattr(_local, "background", False):
            return on_text

        yield_if = getattr(_local, "yield_if", None)

        def guarded(piece: str) -> bool:
            if self._waiting > 0 or (yield_if is not None and yield_if()):
                _local.preempted = True
                return True
            return bool(on_text(piece)) if on_text is not None else False

        return guarded

    @contextlib.contextmanager
    def turn(self, lock: _Lock, messages: list[dict[str, str]]) -> Iterator[None]:
        """Hold the model for one generation: restore the prefix's state first, save it afterwards if asked."""
        foreground = not getattr(_local, "background", False)
        key = self.key(messages)
        persist = key is not None and getattr(_local, "persist", False)
        if key is not None:  # a request without a shared prefix (map-reduce notes) leaves the flag for the next
            _local.persist = False
        _local.preempted = False
        if foreground:
            with self._mu:
                self._waiting += 1
        try:
            lock.acquire()
        finally:
            if foreground:
                with self._mu:
                    self._waiting -= 1
        try:
            if key is not None and key != self.current:
                self.restore(key)
            try:
                yield
            except BaseException:
                self.current = None  # the slot may hold anything now
                raise
            self.current = key
            if key is not None and (persist or key in self._rebuild) and not self.has(key):
                self.save(key)
            if getattr(_local, "preempted", False):
                raise LLMPreempted("an interactive request is waiting for the model")
        finally:
            lock.release()
