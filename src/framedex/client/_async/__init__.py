"""The async client. This package is the source of truth: ``_sync`` is generated from it by
``python -m framedex.client._unasync`` (except ``_concurrency.py``, written by hand in both)."""
