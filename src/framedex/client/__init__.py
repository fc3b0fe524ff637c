"""The framedex Python client: ``TwelveLabs`` (sync) and ``AsyncTwelveLabs``, with the interface of the
Twelve Labs SDK, against a framedex server or in-process on a data directory.

Public surface: ``TwelveLabs``, ``AsyncTwelveLabs``, the response models in :mod:`framedex.client.types`
and the errors in :mod:`framedex.errors`. Everything in underscore modules is private.
"""

from framedex.client import types
from framedex.client._async._client import AsyncTwelveLabs
from framedex.client._async._pagination import AsyncKnowledgeStoreSearchPager, AsyncPager, AsyncSearchPager
from framedex.client._async._streaming import AsyncStream
from framedex.client._sync._client import TwelveLabs
from framedex.client._sync._pagination import KnowledgeStoreSearchPager, Pager, SearchPager
from framedex.client._sync._streaming import Stream

__all__ = [
    "AsyncKnowledgeStoreSearchPager",
    "AsyncPager",
    "AsyncSearchPager",
    "AsyncStream",
    "AsyncTwelveLabs",
    "KnowledgeStoreSearchPager",
    "Pager",
    "SearchPager",
    "Stream",
    "TwelveLabs",
    "types",
]
