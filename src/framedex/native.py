"""Load order of the native libraries framedex uses (no framedex imports: every layer may call it)."""

from __future__ import annotations

import importlib
import threading

_done = threading.Event()
_lock = threading.Lock()


def preload_native_runtimes() -> None:
    """Import the native libraries once, in a fixed order, before any of them is used.

    Importing onnxruntime after usearch (the vector index) crashes the process with SIGSEGV inside
    onnxruntime's module initialisation (reproduced with nothing else loaded: `import usearch.index;
    import onnxruntime`). onnxruntime first, then the others, is safe in any thread. Call this before
    importing usearch or any model runtime.
    """
    if _done.is_set():
        return
    with _lock:
        if _done.is_set():
            return
        for name in ("onnxruntime", "cv2", "ctranslate2", "usearch.index"):
            try:
                importlib.import_module(name)
            except ImportError:  # an optional runtime that is not installed
                continue
        _done.set()
