"""OpenAPI request bodies for routes that read their multipart form (or JSON) by hand.

`POST /search`, `POST /assets` and `POST /embed/tasks` parse their bodies themselves: they need repeated
parts in order, several file parts under one name, streaming size caps and the real API's error codes,
none of which FastAPI's `Form()`/`File()` parameters give. They document the body they read with
`openapi_extra=request_body(...)`, so that the OpenAPI document (and a fuzzer or client generator reading
it) knows every field. The wire behaviour stays what the handler implements.

Multipart fields that the SDK repeats (`search_options=visual`, `search_options=audio`) are arrays here;
OpenAPI serialises an array property of a multipart body as one part per item, which is what the SDK sends.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def text(description: str, *, enum: tuple[str, ...] | None = None, fmt: str | None = None) -> Schema:
    schema: Schema = {"type": "string", "description": description}
    if enum is not None:
        schema["enum"] = list(enum)
    if fmt is not None:
        schema["format"] = fmt
    return schema


def boolean(description: str, *, default: bool | None = None) -> Schema:
    schema: Schema = {"type": "boolean", "description": description}
    if default is not None:
        schema["default"] = default
    return schema


def number(description: str, *, minimum: float | None = None) -> Schema:
    schema: Schema = {"type": "number", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    return schema


def integer(description: str, *, minimum: int | None = None, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "description": description}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


def repeated(item: Schema, description: str, *, min_items: int | None = None,
             max_items: int | None = None) -> Schema:
    """A field sent once per value (`-F name=a -F name=b`)."""
    schema: Schema = {"type": "array", "items": item, "description": description}
    if min_items is not None:
        schema["minItems"] = min_items
    if max_items is not None:
        schema["maxItems"] = max_items
    return schema


def file(description: str) -> Schema:
    # `format: binary` is the OpenAPI 3.0 spelling, `contentMediaType` the 3.1 one (what FastAPI emits for
    # File()); both, so that tools of either generation send a file part.
    return {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream",
            "description": description}


def obj(properties: dict[str, Schema], required: tuple[str, ...] = (), *, title: str) -> Schema:
    schema: Schema = {"type": "object", "title": title, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def request_body(*, multipart: Schema, json: Schema | None = None) -> dict[str, Any]:
    """`openapi_extra` for a route: its body as multipart/form-data and, where accepted, JSON."""
    content: dict[str, Any] = {"multipart/form-data": {"schema": multipart}}
    if json is not None:
        content["application/json"] = {"schema": json}
    return {"requestBody": {"required": True, "content": content}}


def json_body(schema: Schema) -> dict[str, Any]:
    """`openapi_extra` for a route that takes a JSON object it validates itself (field by field, with the
    API's own error codes): the object's fields, merged into the body FastAPI documents as a bare dict."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
