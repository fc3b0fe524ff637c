"""framedex: a self-hosted video understanding platform with the Twelve Labs v1.3 API.

``framedex.TwelveLabs`` and ``framedex.AsyncTwelveLabs`` are the Python client; they are imported on
first use, so ``import framedex`` stays light (the server imports this package too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framedex._version import __version__

__all__ = ["AsyncTwelveLabs", "TwelveLabs", "__version__"]

if TYPE_CHECKING:
    from framedex.client import AsyncTwelveLabs, TwelveLabs


def __getattr__(name: str) -> Any:
    if name in ("TwelveLabs", "AsyncTwelveLabs"):
        from framedex import client

        return getattr(client, name)
    raise AttributeError(f"module 'framedex' has no attribute {name!r}")
