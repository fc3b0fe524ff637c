"""The resources of the async client, one module per API resource (wire format: Twelve Labs v1.3), laid
out like the Twelve Labs SDK and openai-python: ``indexes.py`` holds ``client.indexes``, ``videos.py``
``client.indexes.videos``, and so on. Shared plumbing is in ``_base.py``, the ``/analyze`` body and stream
parsing in ``_analyze.py``. The package exports the resource classes."""

from .analyze_async import AsyncAnalyzeAsync
from .analyze_batches import AsyncAnalyzeBatches
from .analyze_tasks import AsyncAnalyzeTasks
from .assets import AsyncAssets
from .embed import AsyncEmbed
from .embed_tasks import AsyncEmbedTasks
from .embed_v2 import AsyncEmbedV2
from .embed_v2_tasks import AsyncEmbedV2Tasks
from .entities import AsyncEntities
from .entity_collections import AsyncEntityCollections
from .indexed_assets import AsyncIndexedAssets
from .indexes import AsyncIndexes
from .knowledge_collections import AsyncKnowledgeStoreItemCollections
from .knowledge_items import AsyncKnowledgeStoreItems
from .knowledge_stores import AsyncKnowledgeStores
from .multipart_upload import AsyncMultipartUpload
from .responses import AsyncResponses
from .search import AsyncSearch
from .tasks import AsyncTasks
from .transfers import AsyncTransfers
from .videos import AsyncVideos

__all__ = [
    "AsyncAnalyzeAsync",
    "AsyncAnalyzeBatches",
    "AsyncAnalyzeTasks",
    "AsyncAssets",
    "AsyncEmbed",
    "AsyncEmbedTasks",
    "AsyncEmbedV2",
    "AsyncEmbedV2Tasks",
    "AsyncEntities",
    "AsyncEntityCollections",
    "AsyncIndexedAssets",
    "AsyncIndexes",
    "AsyncKnowledgeStoreItemCollections",
    "AsyncKnowledgeStoreItems",
    "AsyncKnowledgeStores",
    "AsyncMultipartUpload",
    "AsyncResponses",
    "AsyncSearch",
    "AsyncTasks",
    "AsyncTransfers",
    "AsyncVideos",
]
