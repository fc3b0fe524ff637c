"""The typed inputs of entity creation, built by the router from the wire body (`from_body`), and the checks
of an entity's fields, with the API's error codes and messages.

The API answers 404 for a missing collection whatever the body holds, and a bulk request reports each
entity's error in its response: so a `NewEntity` keeps the parameter error of its fields (`error`) for the
service to raise, or report, once it has found the collection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from framedex.domain_errors import InvalidParameter, MissingParameter, ServiceError

MAX_ASSETS_PER_ENTITY = 50
MAX_BULK = 100


def clean_name(name: Any) -> str:
    """A collection's or an entity's name: a non-empty string of at most 500 characters, trimmed."""
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter("name")
    if len(name) > 500:
        raise InvalidParameter("name", "It must be at most 500 characters.")
    return name.strip()


def check_metadata(raw: Any) -> dict[str, Any]:
    """An entity's metadata: an object of strings, numbers and booleans (null allowed); None is empty."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidParameter("metadata", "It must be an object.")
    for key, value in raw.items():
        if value is not None and not isinstance(value, str | int | float | bool):
            raise InvalidParameter("metadata", f"The value of {key!r} must be a string, number or boolean.")
    return dict(raw)


def check_asset_ids(raw: Any) -> list[str]:
    """Asset ids to associate with an entity: 1 to MAX_ASSETS_PER_ENTITY distinct ids, in the order given.
    (That the assets exist is the service's check.)"""
    if not isinstance(raw, list) or not all(isinstance(a, str) for a in raw):
        raise InvalidParameter("asset_ids", "It must be an array of asset ids.")
    ids = list(dict.fromkeys(raw))
    if not ids:
        raise InvalidParameter("asset_ids", "Provide at least one asset id.")
    if len(ids) > MAX_ASSETS_PER_ENTITY:
        raise InvalidParameter("asset_ids", f"An entity takes at most {MAX_ASSETS_PER_ENTITY} assets.")
    return ids


@dataclass(frozen=True)
class EntityInput:
    """A new entity's fields, checked: its name (trimmed), description, metadata (scalar values) and reference
    asset ids (distinct; whether they exist is checked by the service)."""

    name: str
    asset_ids: list[str]
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> EntityInput:
        """The fields of a wire `EntityCreate` object, checked in the API's order (raises its errors)."""
        name = clean_name(body.get("name"))
        description = body.get("description")
        metadata = check_metadata(body.get("metadata"))
        return cls(name=name, asset_ids=check_asset_ids(body.get("asset_ids")),
                   description=description if isinstance(description, str) else None, metadata=metadata)


@dataclass(frozen=True)
class NewEntity:
    """An entity to create, as the router received it: its checked fields (`entity`), or the parameter error
    they raise (`error`), which the service raises or reports after looking up the collection."""

    entity: EntityInput | None
    error: ServiceError | None = None
    sent_name: str | None = None  # the name as sent, when it is a string (a bulk error names the entity)

    @classmethod
    def from_body(cls, body: Any) -> NewEntity:
        """A wire `EntityCreate` object, or an item of a bulk request's `entities`. Never raises."""
        name = body.get("name") if isinstance(body, dict) else None
        sent_name = name if isinstance(name, str) else None
        try:
            if not isinstance(body, dict):
                raise InvalidParameter("entities", "Each entity must be an object.")
            return cls(EntityInput.from_body(body), sent_name=sent_name)
        except ServiceError as exc:
            return cls(None, exc, sent_name)

    def checked(self) -> EntityInput:
        """The entity's fields; raises their parameter error."""
        if self.entity is None:
            assert self.error is not None
            raise self.error
        return self.entity


@dataclass(frozen=True)
class NewEntities:
    """The entities of a bulk creation request (1 to MAX_BULK), each checked on its own."""

    items: list[NewEntity]

    @classmethod
    def from_body(cls, entities: Any) -> NewEntities:
        """The `entities` array of a wire bulk request (raises when it is missing or too long)."""
        if not isinstance(entities, list) or not entities:
            raise MissingParameter("entities")
        if len(entities) > MAX_BULK:
            raise InvalidParameter("entities", f"At most {MAX_BULK} entities per request.")
        return cls([NewEntity.from_body(item) for item in entities])
