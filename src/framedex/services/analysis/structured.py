"""JSON-schema outputs (``response_format``): decoding constrained by the schema, the reply validated with
``jsonschema``, repaired by asking again with the validation errors, and as a last resort replaced by the
schema's smallest instance, so the returned value always validates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any

from framedex.models.base import ChatMessage
from framedex.models.llm import (
    Generation,
    LLMError,
)
from framedex.services.analysis.params import AnalysisFailed

log = logging.getLogger(__name__)


def parse_json_reply(text: str) -> Any:
    """The JSON value in a reply (tolerates code fences and text around one object)."""
    s = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if fence:
        s = fence.group(1).strip()
    try:
        return json.loads(s)
    except ValueError:
        pass
    for open_c, close_c in (("{", "}"), ("[", "]")):
        i, j = s.find(open_c), s.rfind(close_c)
        if 0 <= i < j:
            with contextlib.suppress(ValueError):
                return json.loads(s[i : j + 1])
    raise ValueError("no JSON value in the reply")


def schema_errors(value: Any, schema: dict[str, Any]) -> list[str]:
    import jsonschema

    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
            for e in validator.iter_errors(value)][:5]


def minimal_instance(schema: Any, root: dict[str, Any] | None = None, depth: int = 0) -> Any:
    """The smallest value valid against common JSON schemas (the last-resort repair)."""
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    if not isinstance(schema, dict) or depth > 20:
        return None
    if "$ref" in schema and isinstance(schema["$ref"], str) and schema["$ref"].startswith("#/"):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return minimal_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return minimal_instance(schema[key][0], root, depth + 1)
    if isinstance(schema.get("allOf"), list) and schema["allOf"]:
        merged: dict[str, Any] = {}
        for sub in schema["allOf"]:
            if isinstance(sub, dict):
                merged = {**merged, **sub, "properties": {**merged.get("properties", {}), **sub.get("properties", {})},
                          "required": [*merged.get("required", []), *sub.get("required", [])]}
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        props = schema.get("properties", {}) or {}
        return {name: minimal_instance(props.get(name, {}), root, depth + 1) for name in schema.get("required", [])}
    if kind == "array":
        count = int(schema.get("minItems", 0) or 0)
        items = schema.get("items", {})
        prefix = schema.get("prefixItems") or []
        out = [minimal_instance(p, root, depth + 1) for p in prefix[:count]]
        return out + [minimal_instance(items, root, depth + 1) for _ in range(count - len(out))]
    if kind == "string":
        return "x" * int(schema.get("minLength", 0) or 0)
    if kind in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        value: float = 0
        if isinstance(lo, int | float):
            value = lo + (1 if "exclusiveMinimum" in schema and "minimum" not in schema else 0)
        hi = schema.get("maximum")
        if isinstance(hi, int | float) and value > hi:
            value = hi
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return False
    return None


def generate_json(llm: Any, messages: list[ChatMessage], schema: dict[str, Any], *, max_tokens: int,
                  temperature: float, model: str | None = None) -> tuple[Any, Generation, bool]:
    """Generate a value valid against ``schema``; returns (value, last generation, whether it was repaired
    to the schema's minimal instance). Decoding is grammar-constrained; the result is still validated."""
    instruction = ("\n\nReply with JSON only, valid against this JSON schema:\n"
                   + json.dumps(schema, separators=(",", ":"))[:4000])
    last_msg = messages[-1] if messages else ChatMessage("user", "")
    msgs = [*messages[:-1], ChatMessage(last_msg.role, last_msg.content + instruction)]
    constrained = True
    last: Generation | None = None
    in_tokens = out_tokens = 0
    for attempt in range(3):
        try:
            gen = llm.complete(msgs, max_tokens=max_tokens if attempt == 0 else max(max_tokens, 512),
                               temperature=temperature if attempt == 0 else 0.0,
                               json_schema=schema if constrained else None, model=model)
        except LLMError as exc:
            if constrained and ("grammar" in str(exc).lower() or "schema" in str(exc).lower()):
                log.info("schema not usable as a grammar (%s); validating unconstrained output", exc)
                constrained = False
                continue
            raise
        last = gen
        in_tokens += gen.input_tokens
        out_tokens += gen.output_tokens
        try:
            value = parse_json_reply(gen.text)
            errors = schema_errors(value, schema)
        except ValueError as exc:
            value, errors = None, [str(exc)]
        if not errors:
            gen.input_tokens, gen.output_tokens = in_tokens, out_tokens
            return value, gen, False
        log.info("JSON reply invalid (attempt %d): %s", attempt + 1, errors)
        msgs = [*msgs, ChatMessage("assistant", gen.text[:4000]),
                ChatMessage("user", "That reply is not valid against the schema: " + "; ".join(errors)
                            + ". Reply again with corrected, complete JSON only, and keep it short.")]
    value = minimal_instance(schema)
    if schema_errors(value, schema):
        raise AnalysisFailed("Could not produce output valid against the response_format schema.")
    assert last is not None
    last.input_tokens, last.output_tokens = in_tokens, out_tokens
    return value, last, True
