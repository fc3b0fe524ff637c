"""Documented JSON bodies of the knowledge-store and `/responses` routes (their services check each field
themselves, with the API's error codes; these schemas tell the OpenAPI document what they read)."""

from __future__ import annotations

from typing import Any

from framedex.api.schemas.forms import Schema, integer, json_body, obj, repeated, text

_METADATA: Schema = {"type": "object", "additionalProperties": True, "description": "Your key/value metadata."}
_IDS: Schema = repeated(text("An item id."), "Item ids.", min_items=1, max_items=100)

STORE_BODY = json_body(obj({"name": text("The store's name."), "description": text("What the store holds."),
                            "metadata": _METADATA}, ("name",), title="KnowledgeStoreCreate"))
STORE_UPDATE_BODY = json_body(obj({"name": text("New name."), "description": text("New description."),
                                   "metadata": _METADATA}, title="KnowledgeStoreUpdate"))
ITEM_BODY = json_body(obj({"asset_id": text("The asset to add (video or image)."), "metadata": _METADATA},
                          ("asset_id",), title="KnowledgeStoreItemCreate"))
COLLECTION_BODY = json_body(obj({"name": text("The collection's name."), "description": text("Description."),
                                 "item_ids": repeated(text("An item id."), "Items to start with."),
                                 "metadata": _METADATA}, ("name",), title="ItemCollectionCreate"))
COLLECTION_UPDATE_BODY = json_body(obj({"name": text("New name."), "description": text("New description."),
                                        "metadata": _METADATA}, title="ItemCollectionUpdate"))
ITEM_IDS_BODY = json_body(obj({"item_ids": _IDS}, ("item_ids",), title="ItemCollectionItems"))
STORE_SEARCH_BODY = json_body(obj({
    "query": text("What to look for, in words."),
    "search_options": repeated(text("A modality.", enum=("visual", "audio", "transcription")), "Modalities."),
    "page_size": integer("Results per page.", minimum=1, maximum=50),
    "page_token": text("The `next_page_token` of the previous page."),
    "group_by": text("Group results.", enum=("none", "item")),
    "filter": {"type": "object", "additionalProperties": True, "description": "Filter by asset type or item id."},
}, ("query",), title="KnowledgeStoreSearch"))

_INPUT_ITEM: Schema = {"type": "object", "additionalProperties": True,
                       "properties": {"role": text("user or assistant."), "content": {"description": "The text."}}}
RESPONSE_BODY: dict[str, Any] = json_body(obj({
    "knowledge_store_id": text("The knowledge store (or index) to reason over."),
    "input": {"description": "The question: a string, or a list of input items.",
              "anyOf": [{"type": "string"}, {"type": "array", "items": _INPUT_ITEM}]},
    "instructions": text("Extra instructions for the agent."),
    "session_id": text("Continue this conversation."),
    "selections": {"type": "array", "items": {"type": "object", "additionalProperties": True},
                   "description": "Items or item collections that `{{sel:N}}` tokens refer to."},
    "include": repeated(text("Extra outputs, e.g. intermediate_outputs."), "What else to return."),
    "text": {"type": "object", "additionalProperties": True, "description": "Output text format."},
    "stream": {"type": "boolean", "description": "Server-Sent Events instead of one JSON object."},
}, ("knowledge_store_id", "input"), title="ResponseCreate"))
