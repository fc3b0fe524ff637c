"""Indexes: create, list, retrieve, rename, delete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from framedex.domain_errors import Conflict, InvalidParameter, MissingParameter, NotFound
from framedex.ids import is_id, parse_rfc3339, utcnow
from framedex.ingest.keys import video_prefix
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.tables import ClipRow, IndexedAssetRow, IndexRow, SpeechSegmentRow

# Model names of the real API (current and older) and the options each family accepts.
MARENGO_MODELS = {"marengo2.5", "marengo2.6", "marengo2.7", "marengo3.0", "marengo3.5"}
PEGASUS_MODELS = {"pegasus1", "pegasus1.1", "pegasus1.2", "pegasus1.5", "pegasus1.6"}
MARENGO_OPTIONS = {"visual", "audio", "conversation", "text_in_video", "logo"}
PEGASUS_OPTIONS = {"visual", "audio"}
ADDONS = {"thumbnail"}


@dataclass(frozen=True)
class IndexStats:
    video_count: int
    total_duration: float


def model_family(model_name: str) -> str | None:
    if model_name in MARENGO_MODELS or model_name.startswith("marengo"):
        return "marengo"
    if model_name in PEGASUS_MODELS or model_name.startswith("pegasus"):
        return "pegasus"
    return None


def validate_models(models: Any) -> list[dict[str, Any]]:
    if not models:
        raise MissingParameter("models")
    if not isinstance(models, list):
        raise InvalidParameter("models", "It must be an array of {model_name, model_options}.")
    seen: set[str] = set()
    clean: list[dict[str, Any]] = []
    for item in models:
        if not isinstance(item, dict) or not isinstance(item.get("model_name"), str):
            raise InvalidParameter("models", "Each item needs a model_name string.")
        name = item["model_name"]
        family = model_family(name)
        if family is None or (name not in MARENGO_MODELS | PEGASUS_MODELS):
            raise InvalidParameter(
                "models", f"Unknown model_name {name!r}.", code="index_engine_not_supported"
            )
        if family in seen:
            raise InvalidParameter("models", f"More than one {family} model.")
        seen.add(family)
        options = item.get("model_options")
        if not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options):
            raise InvalidParameter("models", "model_options must be a non-empty array of strings.")
        allowed = MARENGO_OPTIONS if family == "marengo" else PEGASUS_OPTIONS
        bad = [o for o in options if o not in allowed]
        if bad:
            raise InvalidParameter(
                "models", f"model_options {bad} are not supported by {name}; use {sorted(allowed)}.",
                code="index_option_not_supported",
            )
        clean.append({"model_name": name, "model_options": list(dict.fromkeys(options))})
    return clean


def index_modalities(index: IndexRow) -> set[str]:
    """The modalities ingest must compute for this index (union over its models)."""
    options: set[str] = set()
    for m in index.models:
        for o in m.get("model_options", []):
            options.update({"visual"} if o in ("text_in_video", "logo") else
                           {"audio"} if o == "conversation" else {o})
    return options


def get_index(session: Session, tenant_id: str, index_id: str) -> IndexRow:
    row = session.get(IndexRow, index_id) if is_id(index_id) else None
    if row is None or row.tenant_id != tenant_id:  # another tenant's index does not exist for you
        raise NotFound("index", index_id)
    return row


def stats(session: Session, index_ids: list[str]) -> dict[str, IndexStats]:
    rows = session.execute(
        select(IndexedAssetRow.index_id, func.count(), func.coalesce(func.sum(IndexedAssetRow.duration), 0.0))
        .where(IndexedAssetRow.index_id.in_(index_ids), IndexedAssetRow.status == "ready")
        .group_by(IndexedAssetRow.index_id)
    ).all()
    found = {r[0]: IndexStats(int(r[1]), float(r[2] or 0.0)) for r in rows}
    return {i: found.get(i, IndexStats(0, 0.0)) for i in index_ids}


def create(platform: Platform, tenant_id: str, *, name: str, models: Any, addons: Any = None,
           hidden: bool = False) -> IndexRow:
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter("index_name")
    clean_models = validate_models(models)
    addons = addons or []
    if not isinstance(addons, list) or any(a not in ADDONS for a in addons):
        raise InvalidParameter("addons", f"Supported addons: {sorted(ADDONS)}.")
    if addons and not any(model_family(m["model_name"]) == "marengo" for m in clean_models):
        raise InvalidParameter("addons", "Addons need a Marengo model.")
    from framedex.ids import new_id

    row = IndexRow(id=new_id(), tenant_id=tenant_id, name=name.strip(), models=clean_models,
                   addons=list(dict.fromkeys(addons)), hidden=hidden)
    try:
        with platform.store.session() as s:
            s.add(row)
    except IntegrityError as exc:
        raise Conflict(f"An index named {name!r} already exists.", code="index_name_already_exists") from exc
    return row


def list_indexes(platform: Platform, tenant_id: str, page: PageRequest, *, sort_by: str = "created_at",
                 sort_option: str = "desc", index_name: str | None = None, model_options: str | None = None,
                 model_family_filter: str | None = None, created_at: str | None = None,
                 updated_at: str | None = None) -> tuple[Page[IndexRow], dict[str, IndexStats]]:
    if sort_by not in ("created_at", "updated_at"):
        raise InvalidParameter("sort_by", "Use created_at or updated_at.")
    if sort_option not in ("asc", "desc"):
        raise InvalidParameter("sort_option", "Use asc or desc.")
    column = IndexRow.created_at if sort_by == "created_at" else IndexRow.updated_at
    query = select(IndexRow).where(IndexRow.tenant_id == tenant_id, IndexRow.hidden.is_(False))
    if index_name:
        query = query.where(IndexRow.name == index_name)
    for name, value, col in (("created_at", created_at, IndexRow.created_at),
                             ("updated_at", updated_at, IndexRow.updated_at)):
        if value:
            query = query.where(col >= _parse_time(name, value))
    query = query.order_by(column.asc() if sort_option == "asc" else column.desc(), IndexRow.id)
    with platform.store.session() as s:
        wanted_options = {o.strip() for o in (model_options or "").split(",") if o.strip()}
        if wanted_options or model_family_filter:
            # Model lists are JSON; filter them here rather than with dialect-specific JSON SQL.
            rows = [r for r in s.scalars(query) if _matches_models(r, wanted_options, model_family_filter)]
            from framedex.services.paging import paginate_list

            result: Page[IndexRow] = paginate_list(rows, page)
        else:
            result = paginate(s, query, page)
        return result, stats(s, [r.id for r in result.items])


def _matches_models(row: IndexRow, options: set[str], family: str | None) -> bool:
    models = row.models
    if family and not any(model_family(m["model_name"]) == family for m in models):
        return False
    have = {o for m in models for o in m.get("model_options", [])}
    return options <= have


def _parse_time(name: str, value: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except ValueError as exc:
        raise InvalidParameter(name, "Use RFC 3339, e.g. 2024-01-01T00:00:00Z.") from exc


def retrieve(platform: Platform, tenant_id: str, index_id: str) -> tuple[IndexRow, IndexStats]:
    with platform.store.session() as s:
        row = get_index(s, tenant_id, index_id)
        return row, stats(s, [row.id])[row.id]


def rename(platform: Platform, tenant_id: str, index_id: str, name: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter("index_name")
    try:
        with platform.store.session() as s:
            row = get_index(s, tenant_id, index_id)
            row.name = name.strip()
            row.updated_at = utcnow()
    except IntegrityError as exc:
        raise Conflict(f"An index named {name!r} already exists.", code="index_name_already_exists") from exc


def delete_index(platform: Platform, tenant_id: str, index_id: str) -> None:
    with platform.store.session() as s:
        row = get_index(s, tenant_id, index_id)
        video_ids = list(s.scalars(select(IndexedAssetRow.id).where(IndexedAssetRow.index_id == row.id)))
        platform.lexical.delete_index(s, row.id)
        s.execute(delete(SpeechSegmentRow).where(SpeechSegmentRow.index_id == row.id))
        s.execute(delete(ClipRow).where(ClipRow.index_id == row.id))
        s.delete(row)
    platform.vectors.delete_index(tenant_id=tenant_id, index_id=index_id)
    for vid in video_ids:
        platform.blobs.delete_prefix(video_prefix(vid))
