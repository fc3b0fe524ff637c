"""Process-wide setup of the native inference runtimes."""

from __future__ import annotations

import importlib
import threading

_done = threading.Event()
_lock = threading.Lock()


def preload_native_runtimes() -> None:
    """Import the native runtimes once, in a fixed order, before any model loads.

    Importing onnxruntime for the first time from a worker thread after CTranslate2 (Whisper)
    had started its thread pool crashed the whole process with SIGSEGV inside onnxruntime's
    module initialisation; importing it first makes the order deterministic and the crash goes away.
    """
    if _done.is_set():
        return
    with _lock:
        if _done.is_set():
            return
        for name in ("onnxruntime", "cv2", "ctranslate2"):
            try:
                importlib.import_module(name)
            except ImportError:  # an optional runtime that is not installed
                continue
        _done.set()
