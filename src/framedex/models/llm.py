"""Text generation backends: a local GGUF through llama.cpp (``xllamacpp``), or any OpenAI-compatible server.

* :class:`LlamaCppBackend` runs the packaged Qwen2.5-Coder-1.5B-Instruct GGUF (pack
  ``qwen2.5-coder-1.5b-instruct``, assembled from pinned pip packages, never from a model hub) on the
  CPU with ``settings.llm_threads`` threads. JSON-schema outputs use llama.cpp's grammar-constrained
  sampling (the schema is compiled to a GBNF grammar), so the reply always parses.
* :class:`OpenAICompatibleBackend` talks to ``settings.llm_url`` (Ollama, vLLM, llama-server, ...)
  through ``/v1/chat/completions``, streaming, with ``response_format: json_schema`` for structured
  output (servers that ignore it are covered by the caller's validate-and-repair step).

Both implement :class:`LLMBackend`: ``complete(messages, ...)`` returns a :class:`Generation` with
the text, ``finish_reason`` (``stop`` | ``length``), token usage and timings; ``on_text`` receives each
piece as it is produced and may return ``True`` to stop early (client gone, task canceled). They also
satisfy the plain :class:`framedex.models.base.TextGenerator` protocol through ``generate``.

The local model serves one generation at a time. Callers queue for it in a :class:`FairScheduler`, which
grants turns round-robin by tenant (the one served least recently goes first), so one tenant's queue of
requests cannot hold up another's; callers name their tenant with :func:`tenant_scope`.

The registry loads a backend lazily with :func:`load_llm` and hands out :class:`LLMProxy` objects,
which hold a use count for the whole generation so the model is never unloaded mid-stream.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

from framedex.config import Settings
from framedex.models.base import ChatMessage
from framedex.models.repetition import RepetitionGuard

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_PACK",
    "FairScheduler",
    "Generation",
    "LLMBackend",
    "LLMError",
    "LLMProxy",
    "LlamaCppBackend",
    "OnText",
    "OpenAICompatibleBackend",
    "estimate_tokens",
    "load_llm",
    "resolve_model",
    "tenant_scope",
]

DEFAULT_PACK = "qwen2.5-coder-1.5b-instruct"
GGUF_FILE = "model.gguf"
# API model names accepted by /analyze and friends; each maps to a configured local model.
API_MODEL_NAMES = ("pegasus1.2", "pegasus1.5", "pegasus1.6")

FinishReason = Literal["stop", "length"]
OnText = Callable[[str], "bool | None"]
"""Called with each new piece of text; return ``True`` to stop generating."""


class LLMError(RuntimeError):
    """The backend could not generate (bad endpoint, context overflow, server error)."""


@dataclass
class Generation:
    text: str
    finish_reason: FinishReason
    input_tokens: int
    output_tokens: int
    model: str
    time_to_first_token: float | None = None  # seconds from the call to the first piece of text
    prompt_seconds: float | None = None
    generation_seconds: float | None = None
    total_seconds: float = 0.0
    stopped: bool = False  # on_text asked to stop

    @property
    def tokens_per_second(self) -> float | None:
        if self.generation_seconds and self.output_tokens:
            return self.output_tokens / self.generation_seconds
        return None


@runtime_checkable
class LLMBackend(Protocol):
    name: str
    context_size: int

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        model: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation: ...

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, object] | None = None,
    ) -> str: ...


def estimate_tokens(text: str) -> int:
    """A conservative token count for budgeting prompts (Qwen's BPE averages ~4 characters per English
    token; we assume 3.2 so that an estimate rarely undercounts)."""
    return int(len(text) / 3.2) + 1


def resolve_model(settings: Settings, model_name: str | None) -> str:
    """The configured model for an API ``model_name`` (``pegasus1.5`` etc.)."""
    if model_name and model_name in settings.llm_models:
        return settings.llm_models[model_name]
    return settings.llm_model


def _messages(messages: list[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def _finish(reason: Any) -> FinishReason:
    return "length" if reason == "length" else "stop"


class _BaseBackend:
    name: str = ""
    context_size: int = 0

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        model: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:  # pragma: no cover - abstract
        raise NotImplementedError

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, object] | None = None,
    ) -> str:
        schema = dict(json_schema) if json_schema is not None else None
        return self.complete(messages, max_tokens=max_tokens, temperature=temperature, json_schema=schema).text


# --- fair turns on a model that serves one caller at a time ------------------------------------------

_TENANT: ContextVar[str] = ContextVar("framedex_llm_tenant", default="")


@contextlib.contextmanager
def tenant_scope(tenant: str) -> Iterator[None]:
    """Generations started inside this block (in this thread or context) queue as ``tenant``'s. Work
    without a scope (background jobs) queues as one shared anonymous tenant."""
    token = _TENANT.set(tenant)
    try:
        yield
    finally:
        _TENANT.reset(token)


def current_tenant() -> str:
    return _TENANT.get()


class FairScheduler:
    """A lock granted round-robin across tenants: among the tenants with someone waiting, the one whose
    last turn is oldest goes next (FIFO within a tenant). With a plain lock, tenant A's ten queued
    requests would all run before tenant B's one."""

    _MAX_REMEMBERED = 10_000  # tenants whose last turn is remembered; the rest count as never served

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._waiting: dict[str, deque[int]] = {}  # tenant -> tickets, oldest first
        self._last_turn: dict[str, int] = {}  # tenant -> the turn number it was last granted
        self._tickets = itertools.count()
        self._turns = itertools.count()

    def _next_ticket(self) -> int | None:
        if not self._waiting:
            return None
        tenant = min(self._waiting, key=lambda t: (self._last_turn.get(t, -1), self._waiting[t][0]))
        return self._waiting[tenant][0]

    @contextlib.contextmanager
    def turn(self, tenant: str | None = None) -> Iterator[None]:
        """Hold the model for one call, once it is this caller's turn."""
        who = current_tenant() if tenant is None else tenant
        with self._cond:
            ticket = next(self._tickets)
            self._waiting.setdefault(who, deque()).append(ticket)
            while self._busy or self._next_ticket() != ticket:
                self._cond.wait()
            queue = self._waiting[who]
            queue.popleft()
            if not queue:
                del self._waiting[who]
            self._busy = True
            self._last_turn[who] = next(self._turns)
            if len(self._last_turn) > self._MAX_REMEMBERED:
                for old in sorted(self._last_turn, key=self._last_turn.__getitem__)[: self._MAX_REMEMBERED // 2]:
                    if old not in self._waiting:
                        del self._last_turn[old]
        try:
            yield
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()

    def waiting(self) -> dict[str, int]:
        """Tenant -> callers waiting for a turn (for tests and stats)."""
        with self._cond:
            return {t: len(q) for t, q in self._waiting.items()}


# --- local: llama.cpp through xllamacpp -------------------------------------------------------------


class _TurnLock:
    """The fair scheduler's turn as the acquire/release pair that the prompt-state cache holds the model
    with (`llm_state.PromptStates.turn`)."""

    def __init__(self, turns: FairScheduler) -> None:
        self._turns = turns
        self._held: AbstractContextManager[None] | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        held = self._turns.turn()
        held.__enter__()
        self._held = held  # set only once this caller holds the turn
        return True

    def release(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            held.__exit__(None, None, None)


class LlamaCppBackend(_BaseBackend):
    """A GGUF model in this process. Calls are serialised (one KV cache slot, so a repeated prompt
    prefix, e.g. the same video's timeline, is reused from cache), in turns that are fair across tenants
    (:class:`FairScheduler`)."""

    def __init__(self, model_path: str | Path, *, threads: int = 2, context_size: int = 8192,
                 name: str | None = None, states_dir: Path | None = None, states_budget_bytes: int = 0,
                 kv_cache: Literal["f16", "q8_0"] = "q8_0") -> None:
        path = Path(model_path)
        if not path.is_file():
            raise LLMError(f"GGUF model file not found: {path}")
        # OpenMP threads that spin while waiting make generation several times slower on a shared CPU.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)  # a local file only: no hub repo is ever configured
        params.n_ctx = int(context_size)
        params.n_parallel = 1
        params.verbosity = 3 if log.isEnabledFor(logging.DEBUG) else -1  # llama.cpp logs to stderr
        params.cpuparams.n_threads = int(threads)
        params.cpuparams_batch.n_threads = int(threads)
        if kv_cache == "q8_0":  # half the memory and saved-state disk; llama.cpp needs flash attention for it
            params.cache_type_k = params.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_Q8_0
            params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
        slot_key = secrets.token_hex(16)
        if states_dir is not None:  # slot save/restore through the server's loopback listener (llm_state.py)
            params.slot_save_path = str(states_dir) + os.sep
            params.api_keys = [slot_key]  # that listener always runs; no other local process may use it
        t0 = time.perf_counter()
        self._server: Any = xllamacpp.Server(params)
        log.info("loaded %s (%d threads, %d ctx, %s KV cache) in %.1fs", path.name, threads, context_size, kv_cache,
                 time.perf_counter() - t0)
        self.turns = FairScheduler()
        self.name = name or path.stem
        self.context_size = int(context_size)
        self.threads = int(threads)
        self.last_timings: dict[str, Any] = {}
        self._interrupted = False  # set by `interrupt`: every generation stops at its next token
        self.states: Any = None  # llm_state.SlotStates: saved prompt prefixes, restored before generations
        if states_dir is not None:
            from framedex.models.llm_state import SlotStates

            identity = f"{path.resolve()}|{path.stat().st_size}|{path.stat().st_mtime_ns}|kv-{kv_cache}"
            self.states = SlotStates(states_dir, states_budget_bytes, identity)
            self.states.attach(self._server.listening_address, slot_key)

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        model: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        request: dict[str, Any] = {
            "messages": _messages(messages),
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "stream": True,
            "cache_prompt": True,
        }
        if json_schema is not None:
            request["json_schema"] = json_schema
        pieces: list[str] = []
        state: dict[str, Any] = {"finish": None, "usage": None, "timings": None, "first": None, "stop": False,
                                 "error": None}
        t0 = time.perf_counter()
        if self.states is not None:
            on_text = self.states.guard(on_text)

        def callback(chunk: Any) -> bool:
            if isinstance(chunk, str):
                try:
                    chunk = json.loads(chunk)
                except ValueError:
                    return False
            if not isinstance(chunk, dict):
                return False
            if "error" in chunk and not chunk.get("choices"):
                state["error"] = chunk["error"]
                return True
            for choice in chunk.get("choices") or []:
                delta = choice.get("delta") or {}
                content = delta.get("content")
                if content:
                    if state["first"] is None:
                        state["first"] = time.perf_counter() - t0
                    pieces.append(content)
                    if on_text is not None and on_text(content):
                        state["stop"] = True
                if choice.get("finish_reason"):
                    state["finish"] = choice["finish_reason"]
            if chunk.get("usage"):
                state["usage"] = chunk["usage"]
            if chunk.get("timings"):
                state["timings"] = chunk["timings"]
            if self._interrupted:
                state["stop"] = True
            return bool(state["stop"])

        turn = self.turns.turn() if self.states is None else self.states.turn(_TurnLock(self.turns),
                                                                              request["messages"])
        with turn:
            try:
                result = self._server.handle_chat_completions(request, callback)
            except Exception as exc:  # the binding raises on context overflow and bad grammars
                raise LLMError(f"generation failed: {exc}") from exc
        if self._interrupted:  # a cut-short answer must not pass for a whole one (e.g. a prepared summary)
            raise LLMError("generation interrupted: the process is shutting down")
        if isinstance(result, dict) and result.get("error"):
            state["error"] = result["error"]
        if state["error"] is not None:
            err = state["error"]
            raise LLMError(str(err.get("message") if isinstance(err, dict) else err))
        timings = state["timings"] or {}
        self.last_timings = timings  # llama.cpp's own counts (cache_n: prompt tokens reused from cache)
        usage = state["usage"] or {}
        output_tokens = int(usage.get("completion_tokens") or timings.get("predicted_n") or len(pieces))
        input_tokens = int(usage.get("prompt_tokens") or
                           (timings.get("prompt_n", 0) + timings.get("cache_n", 0)) or 0)
        finish = _finish(state["finish"])
        if state["stop"]:
            finish = "stop"
        return Generation(
            text="".join(pieces), finish_reason=finish, input_tokens=input_tokens, output_tokens=output_tokens,
            model=self.name, time_to_first_token=state["first"],
            prompt_seconds=(timings["prompt_ms"] / 1000.0) if "prompt_ms" in timings else None,
            generation_seconds=(timings["predicted_ms"] / 1000.0) if "predicted_ms" in timings else None,
            total_seconds=time.perf_counter() - t0, stopped=bool(state["stop"]),
        )

    def interrupt(self) -> None:
        """Stop every generation at its next token, for a shutdown: the generation runs inside llama.cpp on
        the caller's thread, and a thread still in there when the interpreter exits aborts the process."""
        self._interrupted = True

    def close(self) -> None:
        if getattr(self, "states", None) is not None:
            self.states.close()
        server = getattr(self, "_server", None)
        self._server = None
        del server


# --- remote: any OpenAI-compatible endpoint ----------------------------------------------------------


class OpenAICompatibleBackend(_BaseBackend):
    """``POST {url}/v1/chat/completions`` with ``stream: true`` (server-sent events)."""

    def __init__(self, url: str, *, model: str, api_key: str | None = None, timeout: float = 600.0,
                 context_size: int = 8192) -> None:
        import httpx

        base = url.rstrip("/")
        self.endpoint = base + "/chat/completions" if base.endswith("/v1") else base + "/v1/chat/completions"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout, connect=10.0), headers=headers)
        self.name = model
        self.default_model = model
        self.context_size = context_size

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        model: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        import httpx

        name = model or self.default_model
        body: dict[str, Any] = {
            "model": name,
            "messages": _messages(messages),
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": json_schema, "strict": True},
            }
        pieces: list[str] = []
        finish: Any = None
        usage: dict[str, Any] = {}
        first: float | None = None
        stopped = False
        t0 = time.perf_counter()
        try:
            with self._client.stream("POST", self.endpoint, json=body) as response:
                if response.status_code >= 400:
                    detail = response.read().decode("utf-8", "replace")[:500]
                    raise LLMError(f"the LLM endpoint answered HTTP {response.status_code}: {detail}")
                for event in _sse_events(response.iter_lines()):
                    for choice in event.get("choices") or []:
                        content = (choice.get("delta") or {}).get("content") or ""
                        if content:
                            if first is None:
                                first = time.perf_counter() - t0
                            pieces.append(content)
                            if on_text is not None and on_text(content):
                                stopped = True
                        if choice.get("finish_reason"):
                            finish = choice["finish_reason"]
                    if event.get("usage"):
                        usage = event["usage"]
                    if stopped:
                        break
        except httpx.HTTPError as exc:
            raise LLMError(f"the LLM endpoint failed: {exc}") from exc
        total = time.perf_counter() - t0
        text = "".join(pieces)
        output_tokens = int(usage.get("completion_tokens") or estimate_tokens(text))
        input_tokens = int(usage.get("prompt_tokens") or sum(estimate_tokens(m.content) for m in messages))
        return Generation(
            text=text, finish_reason="stop" if stopped else _finish(finish), input_tokens=input_tokens,
            output_tokens=output_tokens, model=name, time_to_first_token=first, prompt_seconds=first,
            generation_seconds=(total - first) if first is not None else None, total_seconds=total,
            stopped=stopped,
        )

    def close(self) -> None:
        self._client.close()


def _sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        line = line.strip()
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event = json.loads(data)
        except ValueError:
            continue
        if isinstance(event, dict):
            if event.get("error"):
                raise LLMError(f"the LLM endpoint reported: {event['error']}")
            yield event


# --- loading and the registry proxy ------------------------------------------------------------------


def load_llm(settings: Settings) -> LLMBackend:
    """The configured backend: the OpenAI-compatible endpoint when ``llm_url`` is set, else the local GGUF
    (``llm_model_path``, or the model pack named by ``llm_model``, assembled and verified on first use)."""
    if settings.llm_url:
        return OpenAICompatibleBackend(settings.llm_url, model=settings.llm_model, api_key=settings.llm_api_key,
                                       timeout=settings.llm_timeout_seconds, context_size=settings.llm_context)
    if settings.llm_model_path is not None:
        path = Path(settings.llm_model_path)
        name = path.stem
    else:
        from framedex.models import packs

        pack = settings.llm_model if settings.llm_model in packs.PACKS else DEFAULT_PACK
        path = packs.ensure(settings, pack) / GGUF_FILE
        name = pack
    threads = settings.llm_threads or max(1, min(settings.model_threads, os.cpu_count() or 1))
    budget = settings.llm_state_disk_mib * 2**20
    return LlamaCppBackend(path, threads=threads, context_size=settings.llm_context, name=name,
                           states_dir=settings.data_dir / "llm-states" if budget > 0 else None,
                           states_budget_bytes=budget, kv_cache=settings.llm_kv_cache)


class _Slot(Protocol):
    def use(self) -> AbstractContextManager[Any]: ...


@dataclass
class LLMProxy:
    """What ``ModelRegistry.llm()`` returns: loads the backend on first use, keeps it loaded for the
    whole of each call. ``name``/``context_size`` come from the settings, so reading them loads nothing."""

    slot: _Slot
    settings: Settings
    name: str = field(init=False)
    context_size: int = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.settings.llm_model
        self.context_size = self.settings.llm_context

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, Any] | None = None,
        model: str | None = None,
        on_text: OnText | None = None,
    ) -> Generation:
        # A JSON answer is shaped by its schema (a grammar), and cutting it would break it.
        guard = RepetitionGuard() if json_schema is None else None

        asked_to_stop = False

        def watch(piece: str) -> bool:
            nonlocal asked_to_stop
            asked_to_stop = asked_to_stop or (bool(on_text(piece)) if on_text is not None else False)
            looping = guard.feed(piece) if guard is not None else False
            return asked_to_stop or looping

        with self.slot.use() as backend:
            result: Generation = backend.complete(messages, max_tokens=max_tokens, temperature=temperature,
                                                  json_schema=json_schema, model=model, on_text=watch)
        if guard is not None and guard.cut is not None:
            log.info("generation looped; cut after %d of %d characters", guard.cut, len(result.text))
            result = replace(result, text=result.text[:guard.cut], finish_reason="stop", stopped=asked_to_stop)
        return result

    def generate(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
        json_schema: dict[str, object] | None = None,
    ) -> str:
        schema = dict(json_schema) if json_schema is not None else None
        return self.complete(messages, max_tokens=max_tokens, temperature=temperature, json_schema=schema).text
