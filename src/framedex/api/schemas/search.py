"""The request body of `POST /search` (reference B.7), for the OpenAPI document.

The handler reads the body itself (repeated parts, up to ten image files, JSON or multipart); these
schemas describe what it reads, field by field.
"""

from __future__ import annotations

from framedex.api.schemas import forms

SEARCH_OPTIONS = ("visual", "audio", "transcription", "conversation", "text_in_video", "logo")
TRANSCRIPTION_OPTIONS = ("lexical", "semantic")
MAX_QUERY_IMAGES = 10

_COMMON: dict[str, forms.Schema] = {
    "index_id": forms.text("The index to search."),
    "query_text": forms.text("The text query; with query_media_type=image, a composed image+text query."),
    "query_media_type": forms.text("The type of the media query.", enum=("image",)),
    "query_media_url": forms.repeated(forms.text("A publicly accessible image URL.", fmt="uri"),
                                      "Image URLs, one part each (files and URLs together: at most 10).",
                                      max_items=MAX_QUERY_IMAGES),
    "transcription_options": forms.repeated(forms.text("A match mode.", enum=TRANSCRIPTION_OPTIONS),
                                            "How the query matches speech; default lexical and semantic."),
    "group_by": forms.text("Group the hits by video or list clips.", enum=("clip", "video")),
    "operator": forms.text("How several search options combine.", enum=("or", "and")),
    "page_limit": forms.integer("Hits (or videos, with group_by=video) per page.", minimum=1, maximum=50),
    "include_user_metadata": forms.boolean("Copy each video's user metadata into its hits."),
}
_SEARCH_OPTIONS = forms.repeated(forms.text("A modality.", enum=SEARCH_OPTIONS),
                                 "The modalities to search, one part each.", min_items=1)
_FILTER_DOC = ("A JSON object: {\"field\": value} or {\"field\": {\"gte\": n, \"lte\": n}} over id, duration, "
               "width, height, size, filename and user metadata.")

SEARCH_MULTIPART = forms.obj(
    {**_COMMON, "search_options": _SEARCH_OPTIONS,
     "filter": forms.text(_FILTER_DOC + " Sent as a JSON string."),
     "query_media_file": forms.repeated(forms.file("An image file (at most 32 MB)."),
                                        "Image files, one part each.", max_items=MAX_QUERY_IMAGES)},
    ("index_id", "search_options"), title="SearchForm",
)
SEARCH_JSON = forms.obj(
    {**_COMMON, "search_options": _SEARCH_OPTIONS,
     "filter": {"description": _FILTER_DOC + " An object, or the same as a JSON string.",
                "anyOf": [{"type": "object"}, {"type": "string"}]}},
    ("index_id", "search_options"), title="SearchJson",
)
SEARCH_BODY = forms.request_body(multipart=SEARCH_MULTIPART, json=SEARCH_JSON)
