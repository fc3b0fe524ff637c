"""The sync client, generated from ``_async`` by ``python -P src/framedex/client/_unasync.py``."""
