"""The client's public surface, pinned: what users import and the resource tree they call into.

The resource and type modules are laid out one per resource; moving code between them must not change
what ``framedex.client`` exports, which attributes a client has, which methods each resource offers, or
which names ``framedex.client.types`` holds. A deliberate API change updates the tables below.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from pathlib import Path
from typing import Any

import httpx
import pytest

import framedex.client
from framedex.client import AsyncTwelveLabs, TwelveLabs, types

CLIENT_ALL = [
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

CLIENT_METHODS = {"analyze", "analyze_stream", "base_url", "generate", "gist", "in_process", "summarize"}

KS_ITEMS = ("KnowledgeStoreItems", {"create", "delete", "list", "retrieve", "wait_for_ready"})
KS_COLLECTIONS = (
    "KnowledgeStoreItemCollections",
    {"add_items", "create", "delete", "list", "list_items", "remove_items", "retrieve", "update"},
)

# attribute path on the client -> (sync class name, public methods); the async class is "Async" + name.
RESOURCES: dict[str, tuple[str, set[str]]] = {
    "analyze_async": ("AnalyzeAsync", set()),
    "analyze_async.batches": ("AnalyzeBatches", {"cancel", "create", "delete", "list", "results", "retrieve"}),
    "analyze_async.tasks": ("AnalyzeTasks", {"cancel", "create", "delete", "list", "retrieve", "wait_for_done"}),
    "assets": (
        "Assets",
        {
            "create",
            "delete",
            "delete_user_metadata",
            "list",
            "replace_user_metadata",
            "retrieve",
            "retrieve_transcription",
            "update_user_metadata",
            "wait_for_ready",
        },
    ),
    "embed": ("Embed", {"create"}),
    "embed.tasks": ("EmbedTasks", {"create", "list", "retrieve", "status", "wait_for_done"}),
    "embed.v_2": ("EmbedV2", {"create"}),
    "embed.v_2.tasks": ("EmbedV2Tasks", {"create", "list", "retrieve", "wait_for_done"}),
    "entity_collections": ("EntityCollections", {"create", "delete", "list", "retrieve", "update"}),
    "entity_collections.entities": (
        "Entities",
        {
            "create",
            "create_assets",
            "create_bulk",
            "delete",
            "delete_assets",
            "list",
            "list_by_asset",
            "retrieve",
            "update",
        },
    ),
    "indexes": ("Indexes", {"create", "delete", "list", "retrieve", "update"}),
    "indexes.indexed_assets": (
        "IndexedAssets",
        {"create", "delete", "list", "list_by_asset", "retrieve", "update", "wait_for_done"},
    ),
    "indexes.videos": ("Videos", {"delete", "list", "retrieve", "update"}),
    # knowledge stores: items and item collections at the top level as in the official SDK, and the same
    # objects under knowledge_stores
    "knowledge_store_item_collections": KS_COLLECTIONS,
    "knowledge_store_items": KS_ITEMS,
    "knowledge_stores": ("KnowledgeStores", {"create", "delete", "list", "retrieve", "search", "update"}),
    "knowledge_stores.item_collections": KS_COLLECTIONS,
    "knowledge_stores.items": KS_ITEMS,
    "multipart_upload": (
        "MultipartUpload",
        {
            "create",
            "get_additional_presigned_urls",
            "get_status",
            "list_incomplete_uploads",
            "report_chunk_batch",
            "upload_file",
        },
    ),
    "responses": ("Responses", {"create", "create_stream"}),
    "search": ("Search", {"create", "query", "retrieve"}),
    "tasks": ("Tasks", {"create", "delete", "list", "retrieve", "wait_for_done"}),
    "tasks.transfers": ("Transfers", {"create", "get_logs", "get_status", "import_"}),
}

TYPES = {
    "ANALYZE_TASK_FINAL_STATUSES", "AnalyzeBatch", "AnalyzeBatchCreateResponse", "AnalyzeError", "AnalyzeResponse",
    "AnalyzeStreamEvent", "AnalyzeTask", "AnalyzeTaskCreateResponse", "AnalyzeTaskList", "AnalyzeTaskResult", "Asset",
    "AssetHls", "AssetThumbnail", "AssetTranscription", "AsyncTask", "BatchResultItem", "BulkCreateEntityResponse",
    "BulkEntity", "BulkEntityError", "Chapter", "ChunkBatchReport", "ChunkInfo", "CompletedChunk", "CreatedBatchItem",
    "EMBED_TASK_FINAL_STATUSES", "EmbedTask", "EmbedTaskCreateResponse", "EmbedV2Task", "Embedding", "EmbeddingData",
    "EmbeddingResponse", "EmbeddingResult", "EmbeddingUsage", "EmbeddingV2Response", "Entity", "EntityCollection",
    "Gist", "Highlight", "Hls", "IncompleteUpload", "Index", "IndexCreateResponse", "IndexModel", "IndexRef",
    "IndexedAsset", "IndexedAssetCreateResponse", "IndexedAssetSummary", "Model", "MultipartUploadSession", "Page",
    "PageInfo", "PresignedUrlChunk", "PresignedUrls", "STREAM_EVENTS", "SearchClip", "SearchItem", "SearchPageInfo",
    "SearchPool", "SearchResults", "Segment", "StreamEnd", "StreamMetadata", "StreamStart", "SummarizeResponse",
    "TASK_FINAL_STATUSES", "Task", "TaskSystemMetadata", "TextGeneration", "TokenUsage", "TranscriptionError",
    "TranscriptionSegment", "TranscriptionUtterance", "UploadProgress", "UploadResult", "UploadStatus", "UserMetadata",
    "Video", "VideoEmbedding", "VideoSystemMetadata",
    # imports from storage (client.tasks.transfers)
    "ImportLog", "ImportLogVideoStatus", "TransferCreateResponse", "TransferFailedFile", "TransferLogs",
    "TransferStatus", "TransferVideo", "TransferVideoItem", "TransferVideoItemFailed",
    # knowledge stores and the /responses agent
    "KnowledgeStore", "KnowledgeStoreItem", "KnowledgeStoreItemCollection", "KnowledgeStoreItemSystemMetadata",
    "KnowledgeStoreMetadata", "SearchKnowledgeStoreHit", "SearchKnowledgeStoreItemMetadata",
    "SearchKnowledgeStoreResponse", "VideoMatch", "ResponseAnnotation", "ResponseError", "ResponseIncompleteDetails",
    "ResponseObject", "ResponseOutputContentPart", "ResponseOutputItem", "ResponseStreamEvent", "ResponseUsage",
}  # fmt: skip


def _offline(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"the surface tests send no requests ({request.url})")


def _resource_tree(client: object) -> dict[str, tuple[str, set[str]]]:
    """Every resource reachable from ``client`` by public attributes: path -> (class name, public methods)."""
    tree: dict[str, tuple[str, set[str]]] = {}

    def walk(obj: object, prefix: str) -> None:
        for name, value in sorted(vars(obj).items()):
            if name.startswith("_") or not type(value).__module__.startswith("framedex.client."):
                continue
            cls = type(value)
            tree[prefix + name] = (cls.__name__, {m for m in dir(cls) if not m.startswith("_")})
            walk(value, f"{prefix}{name}.")

    walk(client, "")
    return tree


def _public(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")}


def test_client_all() -> None:
    assert framedex.client.__all__ == CLIENT_ALL
    for name in CLIENT_ALL:
        assert getattr(framedex.client, name) is not None


def test_client_methods() -> None:
    assert _public(TwelveLabs) == CLIENT_METHODS | {"close"}
    assert _public(AsyncTwelveLabs) == CLIENT_METHODS | {"aclose"}


def test_sync_resource_tree() -> None:
    with TwelveLabs(api_key="k", base_url="http://offline", transport=httpx.MockTransport(_offline)) as client:
        assert _resource_tree(client) == RESOURCES


def test_async_resource_tree() -> None:
    async def main() -> dict[str, tuple[str, set[str]]]:
        transport = httpx.MockTransport(_offline)
        async with AsyncTwelveLabs(api_key="k", base_url="http://offline", transport=transport) as client:
            return _resource_tree(client)

    expected = {path: (f"Async{name}", methods) for path, (name, methods) in RESOURCES.items()}
    assert asyncio.run(main()) == expected


def _signature(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize("path", sorted(RESOURCES))
def test_sync_and_async_signatures_match(path: str) -> None:
    """The generator renames but never changes parameters: each sync method takes what its async twin takes."""
    transport = httpx.MockTransport(_offline)
    sync_client = TwelveLabs(api_key="k", base_url="http://offline", transport=transport)
    async_client = AsyncTwelveLabs(api_key="k", base_url="http://offline", transport=httpx.MockTransport(_offline))
    sync_obj: object = sync_client
    async_obj: object = async_client
    for part in path.split("."):
        sync_obj, async_obj = getattr(sync_obj, part), getattr(async_obj, part)
    for method in RESOURCES[path][1]:
        assert _signature(getattr(sync_obj, method)) == _signature(getattr(async_obj, method)), method
    sync_client.close()


def test_types_names() -> None:
    for name in sorted(TYPES):
        assert hasattr(types, name), name
    assert set(types.__all__) == TYPES
    models = {n for n, v in vars(types).items() if isinstance(v, type) and issubclass(v, types.Model)}
    assert models <= TYPES


def test_every_public_model_is_reexported_from_types() -> None:
    """A model added to a per-resource module (``types/search.py``, ...) must also be reachable as
    ``framedex.client.types.<Name>``, the one place users import from."""
    package = Path(types.__file__).parent
    for file in sorted(package.glob("*.py")):
        if file.name == "__init__.py":
            continue
        module = importlib.import_module(f"{types.__name__}.{file.stem}")
        for name, value in vars(module).items():
            if isinstance(value, type) and issubclass(value, types.Model) and value.__module__ == module.__name__:
                assert name.startswith("_") or getattr(types, name, None) is value, f"{file.name}: {name}"


# framedex path -> the official SDK 1.3.6 client attribute it mirrors
SDK_TWINS = {
    "knowledge_stores": "knowledge_stores",
    "knowledge_store_items": "knowledge_store_items",
    "knowledge_store_item_collections": "knowledge_store_item_collections",
    "responses": "responses",
}


@pytest.mark.parametrize("path", sorted(SDK_TWINS))
def test_methods_and_arguments_mirror_the_official_sdk(path: str) -> None:
    """Code written for the official SDK's knowledge-store and responses clients runs on framedex's: every SDK
    method exists with the same parameter names in the same order (``request_options`` aside)."""
    sdk = pytest.importorskip("twelvelabs")
    sdk_client = sdk.TwelveLabs(api_key="k", base_url="http://offline/v1.3")
    ours: object = TwelveLabs(api_key="k", base_url="http://offline", transport=httpx.MockTransport(_offline))
    theirs = getattr(sdk_client, SDK_TWINS[path])
    for part in path.split("."):
        ours = getattr(ours, part)
    methods = {m for m in _public(type(theirs)) if m != "with_raw_response"}
    assert methods <= _public(type(ours))
    for method in sorted(methods):
        expected = [(n, k) for n, k, _ in _signature(getattr(theirs, method)) if n != "request_options"]
        assert [(n, k) for n, k, _ in _signature(getattr(ours, method))] == expected, method
