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
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from framedex.config import Settings
from framedex.models import packs
from framedex.models.base import (
    AudioEvents,
    AudioTagger,
    Face,
    FaceEncoder,
    FloatArray,
    FrameAnalysis,
    FrameAnalyzer,
    FrameTags,
    ImageArray,
    ImageTagger,
    SpeechRecognizer,
    TextBox,
    TextEmbedder,
    TextReader,
    Transcript,
    VisionEncoder,
)

if TYPE_CHECKING:
    from framedex.models.llm import LLMProxy

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
        self._interrupting = False
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
                    interrupting = self._interrupting
                if interrupting:  # closed while it loaded: its first call ends at once
                    self.interrupt()
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

    @property
    def busy(self) -> bool:
        with self._state:
            return self._users > 0

    def interrupt(self) -> None:
        """Ask the backend to end its running calls early (those that can: `interrupt()` on the backend);
        one still loading is interrupted as soon as it is loaded."""
        with self._state:
            self._interrupting = True
            inst = self._instance
        stop = getattr(inst, "interrupt", None) if inst is not None else None
        if callable(stop):
            stop()

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


class _TextProxy:
    def __init__(self, slot: _Slot[TextEmbedder], name: str, dim: int) -> None:
        self._slot = slot
        self.name = name
        self.dim = dim

    def embed(self, texts: list[str]) -> FloatArray:
        with self._slot.use() as backend:
            return backend.embed(texts)


class _TaggerProxy:
    def __init__(self, slot: _Slot[ImageTagger], name: str, feature_dim: int) -> None:
        self._slot = slot
        self.name = name
        self.feature_dim = feature_dim

    def tag(self, images: list[ImageArray]) -> list[FrameTags]:
        with self._slot.use() as backend:
            return backend.tag(images)


class _VisionProxy:
    def __init__(self, slot: _Slot[VisionEncoder], name: str, dim: int) -> None:
        self._slot = slot
        self.name = name
        self.dim = dim

    def embed_images(self, images: list[ImageArray]) -> FloatArray:
        with self._slot.use() as backend:
            return backend.embed_images(images)

    def embed_text(self, texts: list[str]) -> FloatArray:
        with self._slot.use() as backend:
            return backend.embed_text(texts)


class _FramesProxy:
    def __init__(self, tagger: _Slot[ImageTagger], vision: _Slot[VisionEncoder], name: str, dim: int) -> None:
        self._tagger = tagger
        self._vision = vision
        self.name = name
        self.dim = dim

    def analyze(self, images: list[ImageArray]) -> list[FrameAnalysis]:
        from framedex.models.vision import TaggingFrameAnalyzer

        with self._tagger.use() as tagger, self._vision.use() as encoder:
            return TaggingFrameAnalyzer(tagger, encoder).analyze(images)


class _OcrProxy:
    def __init__(self, slot: _Slot[TextReader], name: str) -> None:
        self._slot = slot
        self.name = name

    def has_text(self, image: ImageArray) -> bool:
        from framedex.models.ocr import likely_has_text

        return likely_has_text(image)  # model-free: never loads the OCR backend

    def read(self, image: ImageArray) -> list[TextBox]:
        with self._slot.use() as backend:
            return backend.read(image)


class _AudioProxy:
    def __init__(self, slot: _Slot[AudioTagger], name: str, dim: int) -> None:
        self._slot = slot
        self.name = name
        self.dim = dim

    def tag(self, audio: FloatArray) -> AudioEvents:
        with self._slot.use() as backend:
            return backend.tag(audio)


class _FacesProxy:
    def __init__(self, slot: _Slot[FaceEncoder], name: str, dim: int, match_threshold: float) -> None:
        self._slot = slot
        self.name = name
        self.dim = dim
        self.match_threshold = match_threshold

    def faces(self, image: ImageArray) -> list[Face]:
        with self._slot.use() as backend:
            return backend.faces(image)


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
            "text": self._load_text,
            "tagger": self._load_tagger,
            "vision": self._load_vision,
            "ocr": self._load_ocr,
            "audio": self._load_audio,
            "faces": self._load_faces,
            "llm": self._load_llm,
        }
        # what a default backend reports, so that proxies need not load it to answer
        self._static_meta: dict[str, dict[str, Any]] = {
            "text": {"name": "minilm-l6-v2", "dim": 384},
            "tagger": {"name": "efficientnet-lite3+ssd-mobilenet-v2", "feature_dim": 1280},
            "vision": {"name": "conse(efficientnet-lite3+ssd-mobilenet-v2->minilm-l6-v2)", "dim": 384},
            "ocr": {"name": "ppocr-v6-small"},
            "audio": {"name": "yamnet", "dim": 384},
            "faces": {"name": "yunet-sface", "dim": 128, "match_threshold": 0.40},
        }

    # -- capability accessors (cheap: nothing is loaded until the first call) --

    def speech(self) -> SpeechRecognizer:
        return _SpeechProxy(self._slot("speech"), packs.SPEECH_PROFILES[self.settings.speech_profile])

    def text(self) -> TextEmbedder:
        m = self._meta("text", "name", "dim")
        return _TextProxy(self._slot("text"), m["name"], m["dim"])

    def tagger(self) -> ImageTagger:
        m = self._meta("tagger", "name", "feature_dim")
        return _TaggerProxy(self._slot("tagger"), m["name"], m["feature_dim"])

    def vision(self) -> VisionEncoder:
        """The joint image-text encoder: ConSE over the tagger by default; `register("vision", ...)`
        an `OnnxClipEncoder` (or set ``clip_model_dir`` in the settings) to use a real CLIP."""
        m = self._meta("vision", "name", "dim")
        return _VisionProxy(self._slot("vision"), m["name"], m["dim"])

    def frames(self) -> FrameAnalyzer:
        """Tags + joint embedding per frame (tagger and vision encoder, loaded and unloaded apart)."""
        m = self._meta("vision", "name", "dim")
        return _FramesProxy(self._slot("tagger"), self._slot("vision"), m["name"], m["dim"])

    def ocr(self) -> TextReader:
        m = self._meta("ocr", "name")
        return _OcrProxy(self._slot("ocr"), m["name"])

    def audio(self) -> AudioTagger:
        m = self._meta("audio", "name", "dim")
        return _AudioProxy(self._slot("audio"), m["name"], m["dim"])

    def faces(self) -> FaceEncoder:
        m = self._meta("faces", "name", "dim", "match_threshold")
        return _FacesProxy(self._slot("faces"), m["name"], m["dim"], m["match_threshold"])

    def llm(self) -> LLMProxy:
        """Text generation (local GGUF via llama.cpp, or ``settings.llm_url``); see ``models/llm.py``."""
        from framedex.models.llm import LLMProxy

        return LLMProxy(self._slot("llm"), self.settings)

    # -- management --

    def register(self, capability: str, backend: object) -> None:
        """Use ``backend`` (an object implementing the capability's protocol) for ``capability``."""
        self.register_factory(capability, lambda: backend)

    def register_factory(self, capability: str, factory: Callable[[], object]) -> None:
        """Load ``capability`` with ``factory()`` (lazily, on first use, and again after unloads)."""
        with self._slots_lock:
            slot = self._slots.get(capability)
            self._static_meta.pop(capability, None)  # a replaced backend reports its own metadata
            if capability == "vision":
                self._static_meta.pop("vision", None)
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

    def close(self, wait_seconds: float = 90.0) -> None:
        """Unload everything. Backends still running a call (a worker thread the pool stopped waiting for)
        are interrupted where they can be and waited for up to `wait_seconds`: freeing a model under a
        running call, or exiting while a thread is inside native code, crashes the process."""
        self._stop.set()
        with self._slots_lock:
            slots = list(self._slots.values())
        for slot in slots:
            slot.interrupt()
        deadline = time.monotonic() + wait_seconds
        while any(slot.busy for slot in slots) and time.monotonic() < deadline:
            time.sleep(0.1)
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

    def _meta(self, capability: str, *keys: str) -> dict[str, Any]:
        static = self._static_meta.get(capability)
        if static is not None and not (capability == "vision" and self._clip_dir() is not None):
            return static
        with self._slot(capability).use() as backend:  # a custom backend: ask it (loads it)
            return {k: getattr(backend, k) for k in keys}

    def _clip_dir(self) -> Path | None:
        value = getattr(self.settings, "clip_model_dir", None)
        return Path(value) if value else None

    def _cache_dir(self) -> Path:
        return Path(self.settings.models_dir) / "cache"

    def _load_text(self) -> TextEmbedder:
        from framedex.models.text import MiniLMTextEmbedder

        return MiniLMTextEmbedder.from_settings(self.settings)

    def _load_tagger(self) -> ImageTagger:
        from framedex.models.vision import EfficientNetSsdTagger

        return EfficientNetSsdTagger.from_settings(self.settings)

    def _load_vision(self) -> VisionEncoder:
        from framedex.models.vision import ConseVisionEncoder, OnnxClipEncoder

        clip = self._clip_dir()
        if clip is not None:
            return OnnxClipEncoder.from_dir(clip, threads=self.settings.model_threads)
        return ConseVisionEncoder(self.tagger(), self.text(), cache_dir=self._cache_dir())

    def _load_ocr(self) -> TextReader:
        from framedex.models.ocr import RapidTextReader

        return RapidTextReader.from_settings(self.settings)

    def _load_audio(self) -> AudioTagger:
        from framedex.models.audio import YamnetAudioTagger

        return YamnetAudioTagger.from_settings(self.settings, self.text())

    def _load_faces(self) -> FaceEncoder:
        from framedex.models.faces import YunetSfaceEncoder

        return YunetSfaceEncoder.from_settings(self.settings)

    def _load_speech(self) -> SpeechRecognizer:
        from framedex.models.speech import WhisperSpeechRecognizer

        return WhisperSpeechRecognizer.from_settings(self.settings)

    def _load_llm(self) -> Any:
        from framedex.models.llm import load_llm

        return load_llm(self.settings)
