"""One place that owns the loaded model backends of a process.

``ModelRegistry(settings).speech()`` returns a small proxy that implements the capability's
protocol. The backend behind it is loaded on the first call (assembling its model pack from the
installed pip distributions if needed), shared by all callers and threads, and unloaded after
``settings.model_idle_ttl_seconds`` without calls (``0`` disables unloading). Every call through a
proxy holds a use count on the backend, so it is never unloaded in the middle of a call; the next
call after an unload simply loads it again.

Tests and alternative deployments can replace a backend with :meth:`ModelRegistry.register`
(an object implementing the protocol) or :meth:`ModelRegistry.register_factory`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import FloatArray, SpeechRecognizer, Transcript

log = logging.getLogger(__name__)

T = TypeVar("T")


class _Slot(Generic[T]):
    """A lazily loaded backend with a use count and an idle clock."""

    def __init__(self, capability: str, loader: Callable[[], T]) -> None:
        self.capability = capability
        self._loader = loader
        self._state = threading.Lock()  # guards _instance, _users, _last_used
        self._load_lock = threading.Lock()  # serialises loading (held for seconds)
        self._instance: T | None = None
        self._users = 0
        self._last_used = time.monotonic()
        self.loads = 0  # how many times the backend has been loaded (for tests and stats)

    @property
    def is_loaded(self) -> bool:
        return self._instance is not None

    @contextlib.contextmanager
    def use(self) -> Iterator[T]:
        with self._state:
            self._users += 1
        try:
            yield self._get()
        finally:
            with self._state:
                self._users -= 1
                self._last_used = time.monotonic()

    def _get(self) -> T:
        inst = self._instance
        if inst is not None:
            return inst
        with self._load_lock:
            inst = self._instance
            if inst is None:
                t0 = time.perf_counter()
                inst = self._loader()
                self.loads += 1
                log.info("loaded %s backend in %.2fs", self.capability, time.perf_counter() - t0)
                with self._state:
                    self._instance = inst
            return inst

    def unload_if_idle(self, ttl: float, now: float) -> bool:
        with self._state:
            inst = self._instance
            if inst is None or self._users > 0 or now - self._last_used < ttl:
                return False
            self._instance = None
        _close(inst)
        log.info("unloaded idle %s backend", self.capability)
        return True

    def unload(self) -> bool:
        """Unload now unless a call is in progress."""
        return self.unload_if_idle(0.0, float("inf"))

    def replace(self, loader: Callable[[], T]) -> None:
        with self._load_lock, self._state:
            old, self._instance = self._instance, None
            self._loader = loader
        if old is not None:
            _close(old)


def _close(inst: object) -> None:
    close = getattr(inst, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # pragma: no cover - best effort
            log.exception("closing %r failed", inst)


# --- proxies: implement the protocols, route each call through the slot -----------------------------


class _SpeechProxy:
    def __init__(self, slot: _Slot[SpeechRecognizer], name: str) -> None:
        self._slot = slot
        self.name = name

    def transcribe(self, audio: FloatArray, language: str | None = None) -> Transcript:
        with self._slot.use() as backend:
            return backend.transcribe(audio, language)


# --- the registry -----------------------------------------------------------------------------------


class ModelRegistry:
    """Lazily loaded, shared, thread-safe model backends for one process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._slots: dict[str, _Slot[Any]] = {}
        self._slots_lock = threading.Lock()
        self._reaper: threading.Thread | None = None
        self._stop = threading.Event()
        self._defaults: dict[str, Callable[[], Any]] = {
            "speech": self._load_speech,
        }

    # -- capability accessors (cheap: nothing is loaded until the first call) --

    def speech(self) -> SpeechRecognizer:
        return _SpeechProxy(self._slot("speech"), packs.SPEECH_PROFILES[self.settings.speech_profile])

    # -- management --

    def register(self, capability: str, backend: object) -> None:
        """Use ``backend`` (an object implementing the capability's protocol) for ``capability``."""
        self.register_factory(capability, lambda: backend)

    def register_factory(self, capability: str, factory: Callable[[], object]) -> None:
        """Load ``capability`` with ``factory()`` (lazily, on first use, and again after unloads)."""
        with self._slots_lock:
            slot = self._slots.get(capability)
            if slot is None:
                self._slots[capability] = _Slot(capability, factory)
                self._start_reaper()
                return
        slot.replace(factory)

    def loaded(self) -> dict[str, bool]:
        """Which capabilities have a backend in memory right now."""
        with self._slots_lock:
            return {name: slot.is_loaded for name, slot in self._slots.items()}

    def load_count(self, capability: str) -> int:
        """How many times the backend of ``capability`` has been loaded in this registry."""
        return self._slot(capability).loads

    def unload_idle(self) -> list[str]:
        """Unload every backend idle for at least the TTL; returns the capabilities unloaded."""
        ttl = self.settings.model_idle_ttl_seconds
        if ttl <= 0:
            return []
        now = time.monotonic()
        with self._slots_lock:
            slots = list(self._slots.values())
        return [s.capability for s in slots if s.unload_if_idle(ttl, now)]

    def unload_all(self) -> list[str]:
        """Unload every backend not in use right now."""
        with self._slots_lock:
            slots = list(self._slots.values())
        return [s.capability for s in slots if s.unload()]

    def close(self) -> None:
        self._stop.set()
        self.unload_all()

    def __enter__(self) -> ModelRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --

    def _slot(self, capability: str) -> _Slot[Any]:
        with self._slots_lock:
            slot = self._slots.get(capability)
            if slot is None:
                try:
                    loader = self._defaults[capability]
                except KeyError:
                    raise KeyError(f"no backend for capability {capability!r}") from None
                slot = self._slots[capability] = _Slot(capability, loader)
                self._start_reaper()
            return slot

    def _start_reaper(self) -> None:
        ttl = self.settings.model_idle_ttl_seconds
        if ttl <= 0 or self._reaper is not None:
            return
        interval = min(max(ttl / 4, 0.05), 30.0)
        ref = weakref.ref(self)
        stop = self._stop

        def run() -> None:
            while not stop.wait(interval):
                reg = ref()
                if reg is None:
                    return
                try:
                    reg.unload_idle()
                except Exception:  # pragma: no cover
                    log.exception("unloading idle models failed")
                del reg

        self._reaper = threading.Thread(target=run, name="framedex-model-reaper", daemon=True)
        self._reaper.start()

    def _load_speech(self) -> SpeechRecognizer:
        from framedex.models.speech import WhisperSpeechRecognizer

        return WhisperSpeechRecognizer.from_settings(self.settings)
