"""Bounds on JSON input, checked before anything uses it: one parser for every JSON body and JSON form field.

`loads` parses with the standard library (deep nesting ends in `RecursionError` there, not a crash), refuses
`NaN`/`Infinity` and overflowing numbers, then walks the value iteratively to bound its depth, the size of
each array and object, and the number of nodes. `check_user_metadata` bounds what a video or asset carries
into every search result; `check_response_schema` bounds what a `response_format` schema can make the
server build (its minimal instance) or run (its regular expressions).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from framedex.domain_errors import InvalidParameter

MAX_DEPTH = 64
MAX_CONTAINER_ITEMS = 10_000
MAX_NODES = 200_000

# user_metadata: what one video or asset may carry (it is copied into each of its search results).
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_CHARS = 128
MAX_METADATA_STRING_CHARS = 2048
MAX_METADATA_LIST_ITEMS = 100
MAX_METADATA_BYTES = 16 * 1024

# response_format schemas.
MAX_SCHEMA_DEPTH = 32
MAX_SCHEMA_NODES = 5_000
MAX_SCHEMA_COUNT = 10_000  # minLength, maxLength, minItems, maxItems, minProperties, maxProperties
MAX_SCHEMA_INSTANCE_BYTES = 64 * 1024  # the smallest valid value, as the last-resort repair would build it
MAX_SCHEMA_PATTERN_CHARS = 512
_SCHEMA_COUNT_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties",
                          "minContains", "maxContains")
_REPEAT = re.compile(r"[+*]|\{\d*,\d*\}")  # an unbounded or ranged repetition (not {n})


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def loads(text: str | bytes, name: str = "body", *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON text within the limits above; any failure is `InvalidParameter(name)` (400)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise InvalidParameter(name, f"It is nested more than {max_depth} levels deep.") from exc
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError, NaN/Infinity, too many digits
        detail = str(exc).split("\n", 1)[0][:200]
        raise InvalidParameter(name, f"It is not valid JSON: {detail}.") from exc
    check(value, name, max_depth=max_depth)
    return value


def check(value: Any, name: str = "body", *, max_depth: int = MAX_DEPTH, max_items: int = MAX_CONTAINER_ITEMS,
          max_nodes: int = MAX_NODES) -> None:
    """Bound an already-parsed JSON value (depth, container sizes, node count, finite numbers)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > max_nodes:
            raise InvalidParameter(name, f"It has more than {max_nodes} values.")
        if isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidParameter(name, "Numbers must be finite (no NaN or Infinity).")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise InvalidParameter(name, f"It is nested more than {max_depth} levels deep.")
            if len(item) > max_items:
                raise InvalidParameter(name, f"An array or object has more than {max_items} entries.")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def finite(value: float | None, name: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise InvalidParameter(name, "It must be a finite number.")
    return value


def parse_metadata_field(raw: Any, name: str = "user_metadata") -> dict[str, Any] | None:
    """A multipart `user_metadata` part (a JSON string), parsed and bounded; None when absent or empty."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise InvalidParameter(name, "It must be a JSON object sent as a text field.")
    if len(raw) > 4 * MAX_METADATA_BYTES:
        raise InvalidParameter(name, f"It must be at most {MAX_METADATA_BYTES} bytes as JSON.")
    value = loads(raw, name, max_depth=8)
    if not isinstance(value, dict):
        raise InvalidParameter(name, "It must be a JSON object.")
    check_user_metadata(value, name)
    return value


def check_user_metadata(data: Any, name: str = "user_metadata") -> None:
    """Bound user metadata: key count, key and string lengths, list sizes and total JSON size.
    Types (str, number, bool, list of str, null) are the service's to check; only sizes are checked here."""
    if not isinstance(data, dict):
        return
    if len(data) > MAX_METADATA_KEYS:
        raise InvalidParameter(name, f"It may have at most {MAX_METADATA_KEYS} keys.")
    for key, value in data.items():
        if isinstance(key, str) and len(key) > MAX_METADATA_KEY_CHARS:
            raise InvalidParameter(name, f"Keys must be at most {MAX_METADATA_KEY_CHARS} characters.")
        if isinstance(value, str) and len(value) > MAX_METADATA_STRING_CHARS:
            raise InvalidParameter(name, f"The value of {key[:40]!r} is longer than {MAX_METADATA_STRING_CHARS} "
                                   "characters.")
        if isinstance(value, list):
            if len(value) > MAX_METADATA_LIST_ITEMS:
                raise InvalidParameter(name, f"The list {key[:40]!r} has more than {MAX_METADATA_LIST_ITEMS} items.")
            if any(isinstance(v, str) and len(v) > MAX_METADATA_STRING_CHARS for v in value):
                raise InvalidParameter(name, f"An item of {key[:40]!r} is longer than {MAX_METADATA_STRING_CHARS} "
                                       "characters.")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidParameter(name, "Numbers must be finite.")
    check(data, name, max_depth=3, max_items=MAX_METADATA_LIST_ITEMS)
    if metadata_size(data) > MAX_METADATA_BYTES:
        raise InvalidParameter(name, f"It must be at most {MAX_METADATA_BYTES} bytes as JSON.")


def metadata_size(data: dict[str, Any]) -> int:
    return len(json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode())


def check_merged_metadata(current: dict[str, Any] | None, patch: dict[str, Any], name: str = "user_metadata") -> None:
    """A PATCH merges into what is stored: bound the result too, so that repeated PATCHes cannot grow it."""
    merged = dict(current or {})
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_METADATA_KEYS:
        raise InvalidParameter(name, f"A video or asset may have at most {MAX_METADATA_KEYS} metadata keys.")
    if metadata_size(merged) > MAX_METADATA_BYTES:
        raise InvalidParameter(name, f"The merged metadata must be at most {MAX_METADATA_BYTES} bytes as JSON.")


# --- response_format -----------------------------------------------------------------------------------


def check_response_format(value: Any, name: str = "response_format") -> None:
    """Bound the JSON schema of a `response_format` before the analysis service sees it. The service checks
    that it is a valid schema; this checks that it is small: its size and depth, the counts it demands,
    the size of the smallest value it accepts, and that its patterns are safe for a backtracking engine."""
    if not isinstance(value, dict):
        return
    schema = value.get("json_schema")
    if isinstance(schema, dict) and isinstance(schema.get("schema"), dict) and "type" not in schema:
        schema = schema["schema"]
    if not isinstance(schema, dict):
        return
    check(schema, name, max_depth=2 * MAX_SCHEMA_DEPTH, max_nodes=MAX_SCHEMA_NODES)
    _check_schema_keywords(schema, name)
    _MinimalSize(schema, name).size(schema, 0)


def _check_schema_keywords(schema: dict[str, Any], name: str) -> None:
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        for key in _SCHEMA_COUNT_KEYWORDS:
            count = node.get(key)
            if count is None or isinstance(count, dict | list):
                continue
            if isinstance(count, bool) or not isinstance(count, int | float) or not 0 <= count <= MAX_SCHEMA_COUNT:
                raise InvalidParameter(name, f"{key} must be an integer between 0 and {MAX_SCHEMA_COUNT}.")
        patterns = []
        if isinstance(node.get("pattern"), str):
            patterns.append(node["pattern"])
        if isinstance(node.get("patternProperties"), dict):
            patterns.extend(k for k in node["patternProperties"] if isinstance(k, str))
        for pattern in patterns:
            _check_pattern(pattern, name)
        for key, child in node.items():
            if key not in ("const", "enum", "default", "examples") and isinstance(child, dict | list):
                stack.append(child)


def _check_pattern(pattern: str, name: str) -> None:
    if len(pattern) > MAX_SCHEMA_PATTERN_CHARS:
        raise InvalidParameter(name, f"A pattern may have at most {MAX_SCHEMA_PATTERN_CHARS} characters.")
    if _nested_repetition(pattern) or re.search(r"\\[1-9]|\\k<|\(\?P=|\(\?<?[=!]", pattern):
        raise InvalidParameter(name, f"The pattern {pattern[:60]!r} nests quantifiers or uses backreferences or "
                               "lookaround, which this server does not evaluate.")
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise InvalidParameter(name, f"The pattern {pattern[:60]!r} is not a valid regular expression.") from exc


def _nested_repetition(pattern: str) -> bool:
    """Whether a repeated group contains a repetition ((a+)+, (x(ab)*)*, (\\d{2,})+): star height above one,
    the shape that makes a backtracking engine take exponential time on a near-match."""
    stack: list[bool] = [False]  # per open group: does it contain a repetition?
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":  # a character class: skip to its end
            j = i + 1
            if j < n and pattern[j] == "^":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            stack.append(False)
            i += 1
            continue
        repeat = _REPEAT.match(pattern, i + 1)
        if c == ")" and len(stack) > 1:
            inner = stack.pop()
            if repeat:
                if inner:
                    return True
                stack[-1] = True
            elif inner:
                stack[-1] = True
            i = repeat.end() if repeat else i + 1
            continue
        here = _REPEAT.match(pattern, i)
        if here:
            stack[-1] = True
            i = here.end()
            continue
        i += 1
    return False


class _MinimalSize:
    """The size in bytes of the smallest instance the analysis service's last-resort repair would build for
    a schema, computed without building it (it follows the same rules: `$ref`, the first `anyOf`/`oneOf`
    branch, merged `allOf`, required properties, `minItems` copies, `minLength` characters), and refused
    once it passes the budget. The walk itself is bounded in steps and depth."""

    MAX_STEPS = 20_000
    MAX_DEPTH = 20  # the repair stops here too

    def __init__(self, root: dict[str, Any], name: str) -> None:
        self.root = root
        self.name = name
        self.steps = 0

    def _too_big(self) -> InvalidParameter:
        return InvalidParameter(self.name, f"The smallest value the JSON schema accepts is larger than "
                                f"{MAX_SCHEMA_INSTANCE_BYTES} bytes.")

    def size(self, schema: Any, depth: int) -> int:
        self.steps += 1
        if self.steps > self.MAX_STEPS:
            raise InvalidParameter(self.name, "The JSON schema is too complex (its references expand too far).")
        if not isinstance(schema, dict) or depth > self.MAX_DEPTH:
            return 4
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self.root
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return self.size(target, depth + 1)
        for literal in ("const", "enum", "default"):
            if literal in schema and (literal != "enum" or schema.get("enum")):
                return 16  # a value written in the schema itself: bounded by the body size
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return self.size(schema[key][0], depth + 1)
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged: dict[str, Any] = {}
            for sub in schema["allOf"]:
                if isinstance(sub, dict):
                    merged = {**merged, **sub,
                              "properties": {**_dict(merged.get("properties")), **_dict(sub.get("properties"))},
                              "required": [*_list(merged.get("required")), *_list(sub.get("required"))]}
            return self.size(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
        if kind is None:
            kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
        total = 2
        if kind == "object":
            props = _dict(schema.get("properties"))
            for prop in _list(schema.get("required")):
                total += len(str(prop)) + 4 + self.size(props.get(prop, {}) if isinstance(prop, str) else {},
                                                        depth + 1)
                if total > MAX_SCHEMA_INSTANCE_BYTES:
                    raise self._too_big()
        elif kind == "array":
            count = _count(schema.get("minItems"))
            prefix = _list(schema.get("prefixItems"))[:count]
            for item in prefix:
                total += 1 + self.size(item, depth + 1)
            rest = count - len(prefix)
            if rest > 0:
                total += rest * (1 + self.size(schema.get("items", {}), depth + 1))
        elif kind == "string":
            total += _count(schema.get("minLength"))
        else:
            total = 24
        if total > MAX_SCHEMA_INSTANCE_BYTES:
            raise self._too_big()
        return total


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return max(0, int(value))
