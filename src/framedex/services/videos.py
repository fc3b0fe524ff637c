"""Indexed assets (the legacy API's "videos") and legacy indexing tasks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import is_id, new_id, parse_rfc3339, utcnow
from framedex.ingest.keys import video_prefix
from framedex.services import assets as asset_service
from framedex.services.indexes import get_index
from framedex.services.paging import Page, PageRequest, paginate, paginate_list
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow, IndexedAssetRow, IndexRow, SpeechSegmentRow, TaskRow

VALIDATE_JOB = "video_validate"
VIDEO_STATUSES = ("pending", "validating", "queued", "indexing", "ready", "failed")
RANGE_FIELDS = ("duration", "fps", "width", "height", "size")


@dataclass
class VideoFilter:
    """Filters of the list endpoints. Ranges are (gte, lte) with either side optional."""

    filename: str | None = None
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    statuses: list[str] = field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    user_metadata: dict[str, str] = field(default_factory=dict)
    sort_by: str = "created_at"
    sort_option: str = "desc"


def get_video(session: Session, tenant_id: str, index_id: str | None, video_id: str) -> IndexedAssetRow:
    row = session.get(IndexedAssetRow, video_id) if is_id(video_id) else None
    if row is None or row.tenant_id != tenant_id or (index_id is not None and row.index_id != index_id):
        raise NotFound("video", video_id)
    return row


def create_indexed_asset(platform: Platform, session: Session, tenant_id: str, index_id: str, asset: AssetRow, *,
                         enable_video_stream: bool = False, user_metadata: dict[str, Any] | None = None,
                         kinds: tuple[str, ...] = ("video",)) -> IndexedAssetRow:
    """`kinds`: the asset types taken. Knowledge-store items also index images (one still frame) and documents
    (a clip per page of text) into their store's hidden index; the API's indexes take videos."""
    index = get_index(session, tenant_id, index_id)
    if asset.status == "failed":
        raise ServiceError(f"The asset {asset.id} failed processing and cannot be indexed.",
                           code="asset_unavailable")
    if asset.file_type not in kinds:
        raise InvalidParameter("asset_id", "Only video assets can be indexed.")
    row = IndexedAssetRow(
        id=new_id(), tenant_id=tenant_id, index_id=index.id, asset_id=asset.id, status="pending",
        filename=asset.filename, enable_video_stream=bool(enable_video_stream),
        user_metadata={**(asset.user_metadata or {}), **(user_metadata or {})}, system_metadata={},
    )
    session.add(row)
    session.flush()
    platform.queue.enqueue(VALIDATE_JOB, {"video_id": row.id}, session=session)
    return row


def index_asset(platform: Platform, tenant_id: str, index_id: str, asset_id: str, *,
                enable_video_stream: bool = False, user_metadata: Any = None,
                kinds: tuple[str, ...] = ("video",)) -> IndexedAssetRow:
    if not asset_id:
        raise MissingParameter("asset_id")
    metadata = asset_service.parse_user_metadata(user_metadata)
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)
        asset = asset_service.get_asset(s, tenant_id, asset_id)
        return create_indexed_asset(platform, s, tenant_id, index_id, asset,
                                    enable_video_stream=enable_video_stream, user_metadata=metadata,
                                    kinds=kinds)


def _apply_filter(query: Select[Any], flt: VideoFilter) -> Select[Any]:
    if flt.filename:
        query = query.where(IndexedAssetRow.filename == flt.filename)
    for name, (gte, lte) in flt.ranges.items():
        if name not in RANGE_FIELDS:
            raise InvalidParameter(name, "Unknown range filter.")
        column = getattr(IndexedAssetRow, name)
        if gte is not None:
            query = query.where(column >= gte)
        if lte is not None:
            query = query.where(column <= lte)
    if flt.statuses:
        bad = [s for s in flt.statuses if s not in VIDEO_STATUSES]
        if bad:
            raise InvalidParameter("status", f"Unknown status {bad}; use {list(VIDEO_STATUSES)}.")
        query = query.where(IndexedAssetRow.status.in_(flt.statuses))
    for name, value in (("created_at", flt.created_at), ("updated_at", flt.updated_at)):
        if value:
            try:
                query = query.where(getattr(IndexedAssetRow, name) >= parse_rfc3339(value))
            except ValueError as exc:
                raise InvalidParameter(name, "Use RFC 3339, e.g. 2024-01-01T00:00:00Z.") from exc
    if flt.sort_by not in ("created_at", "updated_at"):
        raise InvalidParameter("sort_by", "Use created_at or updated_at.")
    if flt.sort_option not in ("asc", "desc"):
        raise InvalidParameter("sort_option", "Use asc or desc.")
    column = getattr(IndexedAssetRow, flt.sort_by)
    return query.order_by(column.asc() if flt.sort_option == "asc" else column.desc(), IndexedAssetRow.id)


def metadata_matches(stored: dict[str, Any], wanted: dict[str, str]) -> bool:
    """Query strings carry text; compare with the stored value's own type."""
    for key, raw in wanted.items():
        if key not in stored:
            return False
        value = stored[key]
        if isinstance(value, bool):
            if raw.lower() != str(value).lower():
                return False
        elif isinstance(value, int | float):
            try:
                if float(raw) != float(value):
                    return False
            except ValueError:
                return False
        elif isinstance(value, list):
            if raw not in value:
                return False
        elif str(value) != raw:
            return False
    return True


def list_videos(platform: Platform, tenant_id: str, index_id: str, page: PageRequest,
                flt: VideoFilter) -> Page[IndexedAssetRow]:
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)
        query = _apply_filter(
            select(IndexedAssetRow).where(IndexedAssetRow.tenant_id == tenant_id,
                                          IndexedAssetRow.index_id == index_id), flt)
        if flt.user_metadata:
            # User metadata is schemaless JSON; match it here instead of with dialect-specific JSON SQL.
            rows = [r for r in s.scalars(query) if metadata_matches(r.user_metadata or {}, flt.user_metadata)]
            return paginate_list(rows, page)
        return paginate(s, query, page)


def list_by_asset(platform: Platform, tenant_id: str, asset_id: str,
                  page: PageRequest) -> Page[tuple[IndexedAssetRow, str]]:
    """The indexed assets made from one asset, each with the name of its index: the real API's
    `IndexedAssetSummary` carries `index{_id, name}`."""
    with platform.store.session() as s:
        asset_service.get_asset(s, tenant_id, asset_id)
        query = (select(IndexedAssetRow)
                 .where(IndexedAssetRow.tenant_id == tenant_id, IndexedAssetRow.asset_id == asset_id)
                 .order_by(IndexedAssetRow.created_at.desc(), IndexedAssetRow.id))
        result: Page[IndexedAssetRow] = paginate(s, query, page)
        wanted = {r.index_id for r in result.items}
        names: dict[str, str] = {}
        if wanted:
            names = {i: n for i, n in s.execute(select(IndexRow.id, IndexRow.name).where(IndexRow.id.in_(wanted)))}
        return Page([(r, names.get(r.index_id, "")) for r in result.items], result.request, result.total)


def retrieve(platform: Platform, tenant_id: str, index_id: str, video_id: str) -> IndexedAssetRow:
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)
        return get_video(s, tenant_id, index_id, video_id)


def transcription(platform: Platform, video_id: str) -> list[dict[str, Any]]:
    with platform.store.session() as s:
        rows = s.scalars(select(SpeechSegmentRow).where(SpeechSegmentRow.video_id == video_id)
                         .order_by(SpeechSegmentRow.seq))
        return [{"start": r.start, "end": r.end, "value": r.text} for r in rows]


def update_user_metadata(platform: Platform, tenant_id: str, index_id: str, video_id: str,
                         data: dict[str, Any] | None) -> None:
    # Read-merge-write under the write lock: concurrent PATCHes of different keys all survive.
    with platform.store.session(immediate=True) as s:
        get_index(s, tenant_id, index_id)
        video = get_video(s, tenant_id, index_id, video_id)
        s.refresh(video, with_for_update=True)
        video.user_metadata = asset_service.merge_user_metadata(video.user_metadata, data or {}, mode="merge")
        video.updated_at = utcnow()


def delete_video(platform: Platform, tenant_id: str, index_id: str, video_id: str) -> None:
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)
        video = get_video(s, tenant_id, index_id, video_id)
        platform.lexical.delete_video(s, video.id)
        s.execute(update(TaskRow).where(TaskRow.video_id == video.id).values(status_snapshot=video.status))
        s.delete(video)
    platform.vectors.delete_video(tenant_id=tenant_id, index_id=index_id, video_id=video_id)
    platform.blobs.delete_prefix(video_prefix(video_id))


# --- legacy tasks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskView:
    task: TaskRow
    video: IndexedAssetRow | None

    @property
    def status(self) -> str:
        if self.video is not None:
            return self.video.status
        return self.task.status_snapshot or "ready"


def create_task(platform: Platform, tenant_id: str, *, index_id: str | None, stream: BinaryIO | None = None,
                filename: str | None = None, video_url: str | None = None, enable_video_stream: bool = False,
                user_metadata: Any = None) -> TaskView:
    if not index_id:
        raise MissingParameter("index_id")
    if stream is None and not video_url:
        raise MissingParameter("video_file")
    if stream is not None and video_url:
        raise InvalidParameter("video_url", "Provide either video_file or video_url, not both.")
    metadata = asset_service.parse_user_metadata(user_metadata)
    with platform.store.session() as s:
        get_index(s, tenant_id, index_id)  # fail before receiving the upload
    if stream is not None:
        asset = asset_service.create_direct(platform, tenant_id, stream=stream, filename=filename,
                                            max_bytes=platform.settings.max_upload_bytes)
    else:
        assert video_url is not None
        asset = asset_service.create_from_url(platform, tenant_id, url=video_url, filename=filename)
    with platform.store.session() as s:
        asset_row = asset_service.get_asset(s, tenant_id, asset.id)
        video = create_indexed_asset(platform, s, tenant_id, index_id, asset_row,
                                     enable_video_stream=enable_video_stream, user_metadata=metadata)
        task = TaskRow(id=new_id(), tenant_id=tenant_id, index_id=index_id, video_id=video.id, asset_id=asset.id)
        s.add(task)
        s.flush()
        return TaskView(task, video)


def _task_view(session: Session, task: TaskRow) -> TaskView:
    return TaskView(task, session.get(IndexedAssetRow, task.video_id))


def get_task(platform: Platform, tenant_id: str, task_id: str) -> TaskView:
    with platform.store.session() as s:
        task = s.get(TaskRow, task_id) if is_id(task_id) else None
        if task is None or task.tenant_id != tenant_id:
            raise NotFound("task", task_id)
        return _task_view(s, task)


def list_tasks(platform: Platform, tenant_id: str, page: PageRequest, *, index_id: str | None,
               flt: VideoFilter) -> Page[TaskView]:
    query = (select(TaskRow, IndexedAssetRow)
             .join(IndexedAssetRow, IndexedAssetRow.id == TaskRow.video_id, isouter=True)
             .where(TaskRow.tenant_id == tenant_id))
    if index_id:
        query = query.where(TaskRow.index_id == index_id)
    if "uploading" in flt.statuses:
        # A status the real API lists tasks by; a framedex task exists only once its upload is complete, so
        # none is ever uploading.
        flt = replace(flt, statuses=[st for st in flt.statuses if st != "uploading"])
        if not flt.statuses:
            return paginate_list([], page)
    query = _apply_filter(query, flt)  # type: ignore[arg-type]
    with platform.store.session() as s:
        views = [TaskView(row[0], row[1]) for row in s.execute(query).all()]
        return paginate_list(views, page)


def delete_task(platform: Platform, tenant_id: str, task_id: str) -> None:
    with platform.store.session() as s:
        task = s.get(TaskRow, task_id) if is_id(task_id) else None
        if task is None or task.tenant_id != tenant_id:
            raise NotFound("task", task_id)
        view = _task_view(s, task)
        if view.status not in ("ready", "failed"):
            raise ServiceError("Only tasks whose status is ready or failed can be deleted.",
                               code="task_cannot_be_deleted")
        if view.video is not None and view.status == "ready":
            raise ServiceError("Delete the task's video first (DELETE /indexes/{index_id}/videos/{video_id}).",
                               code="task_cannot_be_deleted")
        video_id = view.video.id if view.video is not None else None
        if view.video is not None:
            platform.lexical.delete_video(s, view.video.id)
            platform.vectors.delete_video(tenant_id=tenant_id, index_id=task.index_id, video_id=view.video.id)
            s.delete(view.video)
        s.delete(task)
    if video_id is not None:  # a failed video may have stored frames, audio and thumbnails
        platform.blobs.delete_prefix(video_prefix(video_id))


def parse_range(name: str, exact: str | None, gte: str | None, lte: str | None) -> tuple[float | None, float | None]:
    def num(raw: str | None) -> float | None:
        if raw is None or raw == "":
            return None
        try:
            return float(raw)
        except ValueError as exc:
            raise InvalidParameter(name, "It must be a number.") from exc

    if exact not in (None, ""):
        value = num(exact)
        return value, value
    return num(gte), num(lte)


def parse_json_object(name: str, raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidParameter(name, "It must be a JSON object.") from exc
    if not isinstance(value, dict):
        raise InvalidParameter(name, "It must be a JSON object.")
    return value
