# Generated from _async/resources/__init__.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""The resources of the sync client, one module per API resource (wire format: Twelve Labs v1.3), laid
out like the Twelve Labs SDK and openai-python: ``indexes.py`` holds ``client.indexes``, ``videos.py``
``client.indexes.videos``, and so on. Shared plumbing is in ``_base.py``, the ``/analyze`` body and stream
parsing in ``_analyze.py``. The package exports the resource classes."""

from .analyze_async import AnalyzeAsync
from .analyze_batches import AnalyzeBatches
from .analyze_tasks import AnalyzeTasks
from .assets import Assets
from .embed import Embed
from .embed_tasks import EmbedTasks
from .embed_v2 import EmbedV2
from .embed_v2_tasks import EmbedV2Tasks
from .entities import Entities
from .entity_collections import EntityCollections
from .indexed_assets import IndexedAssets
from .indexes import Indexes
from .knowledge_collections import KnowledgeStoreItemCollections
from .knowledge_items import KnowledgeStoreItems
from .knowledge_stores import KnowledgeStores
from .multipart_upload import MultipartUpload
from .responses import Responses
from .search import Search
from .tasks import Tasks
from .transfers import Transfers
from .videos import Videos

__all__ = [
    "AnalyzeAsync",
    "AnalyzeBatches",
    "AnalyzeTasks",
    "Assets",
    "Embed",
    "EmbedTasks",
    "EmbedV2",
    "EmbedV2Tasks",
    "Entities",
    "EntityCollections",
    "IndexedAssets",
    "Indexes",
    "KnowledgeStoreItemCollections",
    "KnowledgeStoreItems",
    "KnowledgeStores",
    "MultipartUpload",
    "Responses",
    "Search",
    "Tasks",
    "Transfers",
    "Videos",
]
