"""The async client. This package is the source of truth: ``_sync`` is generated from it, file by file and
subpackages included, by ``python -P src/framedex/client/_unasync.py`` (except ``_concurrency.py``, written by
hand in both). The resources live one per module in ``resources/``."""
