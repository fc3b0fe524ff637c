"""The typed requests of the knowledge-store services, each built from its wire body by the router with
``from_body``, which checks the fields in the order the API reports them, with its codes and messages.

What can only be checked against stored rows is checked by the service, after its lookups: an item's
``asset_type`` against its asset (``ItemInput.asset_type`` is the body's value, unchecked), and a search's
page token against the kept results.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from framedex.domain_errors import InvalidParameter, MissingParameter
from framedex.ids import is_id

MAX_PAGE_SIZE = 50
# The API's items are videos and images; a document (PDF, text, Markdown) item is framedex's extension: the
# reference searches documents nowhere else (they are only embedded), and its SDK's asset_type enums are open.
ITEM_KINDS = ("video", "image", "document")
MAX_ITEM_IDS = 500


def check_metadata(value: Any, *, max_pairs: int, max_value: int, name: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(name, "It must be an object of key-value pairs.")
    if len(value) > max_pairs:
        raise InvalidParameter(name, f"At most {max_pairs} pairs are accepted.")
    for key, v in value.items():
        if len(key) > 128:
            raise InvalidParameter(name, f"The key {key[:20]!r}… is longer than 128 characters.")
        ok = (isinstance(v, str) and len(v) <= max_value) \
            or (isinstance(v, bool)) \
            or (isinstance(v, int) and abs(v) <= 9007199254740991) \
            or (isinstance(v, float)) \
            or (isinstance(v, list) and all(isinstance(x, str) and len(x) <= max_value for x in v))
        if not ok:
            raise InvalidParameter(name, f"The value of {key!r} must be a string (up to {max_value} characters), "
                                   "a number, a boolean or an array of strings.")
    return dict(value)


# --- stores and item collections ---------------------------------------------------------------------------


def _store_metadata(value: Any) -> dict[str, Any]:
    """A store's or a collection's metadata, checked."""
    return check_metadata(value, max_pairs=10, max_value=2048)


def _new_name(body: Mapping[str, Any]) -> str:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter("name")
    return name.strip()


def _new_description(body: Mapping[str, Any]) -> str | None:
    """A store's or a new collection's description (None: none, or unchanged)."""
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidParameter("description", "It must be a string.")
    return description


def _renamed(body: Mapping[str, Any]) -> str | None:
    """A PATCH's new name, stripped (None: unchanged)."""
    name = body.get("name")
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameter("name", "It must be a non-empty string.")
    return name.strip()


@dataclass(frozen=True)
class StoreInput:
    """A new knowledge store: its name (stripped), description and metadata."""

    name: str
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Self:
        name = _new_name(body)
        description = _new_description(body)
        return cls(name=name, description=description, metadata=_store_metadata(body.get("metadata")))


@dataclass(frozen=True)
class CollectionInput(StoreInput):
    """A new item collection of a store, checked as a new store is (the body's ``item_ids`` are not read)."""


@dataclass(frozen=True)
class StoreUpdate:
    """What a store's PATCH changes: each field that is not None (``metadata`` replaces the store's in full)."""

    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> StoreUpdate:
        name = _renamed(body)
        description = _new_description(body)
        meta = body.get("metadata")
        return cls(name=name, description=description, metadata=None if meta is None else _store_metadata(meta))


@dataclass(frozen=True)
class CollectionUpdate:
    """What a collection's PATCH changes: each field that is not None; a ``description`` of any type is kept
    as its text."""

    name: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> CollectionUpdate:
        name = _renamed(body)
        description = body.get("description")
        meta = body.get("metadata")
        return cls(name=name, description=None if description is None else str(description),
                   metadata=None if meta is None else _store_metadata(meta))


@dataclass(frozen=True)
class CollectionItems:
    """The ``item_ids`` added to or removed from a collection, without repeats, in their order."""

    item_ids: tuple[str, ...]

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> CollectionItems:
        ids = body.get("item_ids")
        if not isinstance(ids, list) or not ids:
            raise MissingParameter("item_ids")
        if len(ids) > MAX_ITEM_IDS or not all(isinstance(i, str) for i in ids):
            raise InvalidParameter("item_ids", f"Give up to {MAX_ITEM_IDS} item ids.")
        return cls(item_ids=tuple(dict.fromkeys(ids)))


# --- items -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemInput:
    """A new item. ``asset_type`` is the body's value, checked by the service once the asset is found (a
    missing store or asset is reported first); when empty, the asset's own type decides."""

    asset_id: str
    metadata: dict[str, Any] = field(default_factory=dict)
    asset_type: Any = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ItemInput:
        asset_id = body.get("asset_id")
        if not isinstance(asset_id, str) or not asset_id:
            raise MissingParameter("asset_id")
        meta = check_metadata(body.get("metadata"), max_pairs=50, max_value=8192)
        return cls(asset_id=asset_id, metadata=meta, asset_type=body.get("asset_type"))


# --- search ------------------------------------------------------------------------------------------------


def encode_token(search_id: str, page: int) -> str:
    return base64.urlsafe_b64encode(f"ks:{search_id}:{page}".encode()).decode().rstrip("=")


def decode_token(token: Any) -> tuple[str, int]:
    """The search id and page number of a page token (``search_page_token_invalid`` when malformed)."""
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)).decode()
        tag, search_id, page = raw.split(":")
        number = int(page)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid") from exc
    if tag != "ks" or number < 1 or not is_id(search_id):
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid")
    return search_id, number


def _wanted(cond: dict[str, Any]) -> frozenset[Any]:
    """The values a ``{eq: …}`` / ``{in: […]}`` condition accepts."""
    return frozenset(set(cond.get("in") or []) | ({cond["eq"]} if cond.get("eq") is not None else set()))


@dataclass(frozen=True)
class StoreSearchInput:
    """A knowledge-store search. With a ``page_token`` (its search id and page here) it asks for a further
    page of kept results and nothing else in the body is read; else a new search of ``text``. ``asset_types``
    and ``item_ids`` are the ``filter``'s accepted values (None: no condition)."""

    text: str = ""
    page_size: int = 10
    group_by: str = "none"
    # The reference's default: "the video field shows ["visual"] when you don't set it".
    modalities: tuple[str, ...] = ("visual",)
    asset_types: frozenset[Any] | None = None
    item_ids: frozenset[Any] | None = None
    page_token: tuple[str, int] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> StoreSearchInput:
        token = body.get("page_token")
        if token is not None:
            return cls(page_token=decode_token(token))
        query = body.get("query")
        text = query.get("text") if isinstance(query, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise MissingParameter("query.text")
        page_size = body.get("page_size", 10)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidParameter("page_size", f"It must be between 1 and {MAX_PAGE_SIZE}.")
        group_by = body.get("group_by") or "none"
        if group_by not in ("none", "item"):
            raise InvalidParameter("group_by", "Use none or item.")
        modalities = ["visual"]
        opts = body.get("search_options")
        if isinstance(opts, dict) and isinstance(opts.get("video"), dict) and opts["video"].get("modalities"):
            modalities = [m for m in opts["video"]["modalities"] if m in ("visual", "audio")]
            if not modalities or len(modalities) != len(opts["video"]["modalities"]):
                raise InvalidParameter("search_options.video.modalities", "Use visual and/or audio.")
        flt = body.get("filter")
        wanted: dict[str, frozenset[Any] | None] = {"asset_type": None, "item_id": None}
        if flt is not None:
            if not isinstance(flt, dict):
                raise InvalidParameter("filter", "It must be an object.")
            for key in wanted:
                cond = flt.get(key)
                if cond is None:
                    continue
                if not isinstance(cond, dict):
                    raise InvalidParameter(f"filter.{key}", "Use {eq: …} or {in: […]}.")
                wanted[key] = _wanted(cond)
        return cls(text=text, page_size=page_size, group_by=group_by, modalities=tuple(modalities),
                   asset_types=wanted["asset_type"], item_ids=wanted["item_id"])

    @property
    def excludes_videos(self) -> bool:
        """Whether the filter's ``asset_type`` leaves videos out."""
        return self.asset_types is not None and "video" not in self.asset_types
