"""Copy one platform's data into another: an embedded data dir into a cluster (`framedex migrate`).

What moves, in this order (each step restartable, see below):

1. **The signing key** (signed upload/thumbnail/playback URLs and webhook secrets are HMACs under it): the
   source's key becomes the target's (a ``platform_secrets`` row on a server database, ``signing.key`` in the
   data dir on SQLite), so links already handed out and webhook secrets users configured stay valid.
2. **Every metadata table** (`Base.metadata.sorted_tables`, parents before children), row by row with the
   same ids, timestamps, API-key hashes and tenants, in batches. PostgreSQL sequences of integer keys are
   moved past the copied ids. The lexical index (``speech_fts``) is derived from ``speech_segments``: each
   copied segment is added to the target's `LexicalIndex` in the same transaction as its row.
3. **Every blob**: the source's blob directory is walked (the source must be a local ``file://`` store,
   as every embedded data dir is) and each file streamed to the target store under the same key.
4. **Every vector**: for each index, each space it holds and each of its videos, the video's records
   (`VectorIndex.segments_for_video`, in write order: same clip seqs, spans, payloads, vector numbers)
   are written to the target with `replace_video`. Vectors of video ids that no metadata row names are
   unreachable to users (search passes the ids of ready videos) and are not copied.
5. **Queued jobs** are announced to the target's dispatcher when it has one apart from the database (the
   Redis queue's `recover`); a database queue claims them from the copied rows.

Restartability: a migration stopped at any point (killed, a network error) is finished by running it again
with ``resume=True``. Rows are inserted with ``ON CONFLICT DO NOTHING`` (a batch commits as a whole, with
its lexical entries), blobs already present with the same size are skipped, a video's vectors are skipped
when the target holds as many for it in that space, and the signing key must already be the source's.
Without ``resume`` the target's metadata store must be empty (`TargetNotEmpty`).

Memory is bounded by the batch size (rows), one blob chunk and one video's vectors in one space; the
embedded source index keeps a collection in memory as it does when serving.

The source must not be in use: its embedded vector index is opened first (it is owned by one process), so
a running server makes `migrate` fail at once with the index's "already open" error, before anything is
written.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import JSON, Integer, Table, func, literal, null, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from framedex.services.platform import Platform
from framedex.storage.blobs import LocalBlobStore
from framedex.storage.metadata import register_tables
from framedex.storage.tables import Base, IndexedAssetRow, IndexRow, PlatformSecretRow, SpeechSegmentRow

SIGNING_KEY = "signing_key"  # the `platform_secrets` row of a server database (see `framedex.platform`)
SIGNING_KEY_FILE = "signing.key"  # the embedded stack's key file in the data dir
_TMP_PREFIX = ".tmp-"  # partial writes of the local blob store, never blobs
# Written by step 1 from the source's key, never copied row by row (an embedded source keeps its key in a file).
_NOT_COPIED = {"platform_secrets"}


class MigrationError(Exception):
    """The migration cannot start or continue; the message says why and what to do."""


class TargetNotEmpty(MigrationError):
    pass


@runtime_checkable
class _Announcer(Protocol):
    """A queue whose dispatcher lives apart from the job rows (Redis): `recover` re-announces queued jobs."""

    def recover(self) -> int: ...


@dataclass
class Counts:
    copied: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Progress:
    """One progress report: `phase` is ``tables``, ``blobs``, ``vectors`` or ``jobs``; `name` the table,
    blob count or collection; counts are cumulative for that name; `done` marks its last report."""

    phase: str
    name: str
    copied: int
    skipped: int
    done: bool = False
    detail: str = ""

    def __str__(self) -> str:
        if self.phase == "jobs":
            return f"{self.phase:<7} {self.name}: {self.copied}"
        state = "done" if self.done else "..."
        extra = f", {self.detail}" if self.detail else ""
        return f"{self.phase:<7} {self.name}: {self.copied} copied, {self.skipped} skipped{extra} {state}"


@dataclass
class Report:
    signing_key: str = ""  # "copied" or "already the source's"
    tables: dict[str, Counts] = field(default_factory=dict)
    lexical_entries: int = 0
    blobs: Counts = field(default_factory=Counts)
    blob_bytes: int = 0
    vectors: Counts = field(default_factory=Counts)  # (video, space) pairs
    vector_count: int = 0
    jobs_announced: int = 0

    @property
    def rows_copied(self) -> int:
        return sum(c.copied for c in self.tables.values())

    @property
    def nothing_copied(self) -> bool:
        """True when the run changed nothing in the target (a finished migration run again)."""
        return (self.signing_key != "copied" and self.rows_copied == 0 and self.lexical_entries == 0
                and self.blobs.copied == 0 and self.vectors.copied == 0)

    def summary(self) -> str:
        rows_skipped = sum(c.skipped for c in self.tables.values())
        return (f"signing key {self.signing_key}; {self.rows_copied} rows copied ({rows_skipped} already there) "
                f"in {len(self.tables)} tables, {self.lexical_entries} lexical entries; "
                f"{self.blobs.copied} blobs copied ({self.blob_bytes} bytes, {self.blobs.skipped} already there); "
                f"{self.vector_count} vectors of {self.vectors.copied} video spaces copied "
                f"({self.vectors.skipped} already there); {self.jobs_announced} queued jobs announced")


ProgressCallback = Callable[[Progress], None]


def _ignore(_: Progress) -> None:
    pass


def migrate(source: Platform, target: Platform, *, resume: bool = False, progress: ProgressCallback = _ignore,
            batch_rows: int = 1000, blob_batch: int = 100) -> Report:
    """Copy `source`'s data into `target` (see the module docstring); returns what was copied."""
    if batch_rows < 1 or blob_batch < 1:
        raise ValueError("batch sizes must be positive")
    register_tables()
    blob_root = _blob_root(source)
    try:
        _ = source.vectors  # the embedded index is one process's: fail now if a server holds it
    except RuntimeError as exc:
        raise MigrationError(f"{exc}: stop the server (and workers) using the source data dir first") from exc
    tables = [t for t in Base.metadata.sorted_tables if t.name not in _NOT_COPIED]
    if not resume:
        filled = _non_empty_tables(target, Base.metadata.sorted_tables)
        if filled:
            raise TargetNotEmpty(
                f"the target database is not empty ({', '.join(filled[:5])}{', ...' if len(filled) > 5 else ''} "
                "hold rows): migrate into a fresh database, or pass --resume to finish an interrupted migration")
    report = Report()
    report.signing_key = _copy_signing_key(source, target)
    for table in tables:
        report.tables[table.name] = _copy_table(source, target, table, batch_rows, report, progress)
    _copy_blobs(blob_root, target, resume, blob_batch, report, progress)
    _copy_vectors(source, target, resume, report, progress)
    if isinstance(target.queue, _Announcer):
        report.jobs_announced = target.queue.recover()
        progress(Progress("jobs", "announced", report.jobs_announced, 0, done=True))
    return report


# --- checks ----------------------------------------------------------------------------------------


def _blob_root(source: Platform) -> Path:
    blobs = source.blobs
    if not isinstance(blobs, LocalBlobStore):
        raise MigrationError("the source's blobs must be a local directory (file://), as in an embedded data dir")
    return blobs.root


def _non_empty_tables(target: Platform, tables: Sequence[Table]) -> list[str]:
    with target.store.session() as s:
        return [t.name for t in tables
                if s.execute(select(literal(1)).select_from(t).limit(1)).first() is not None]


# --- the signing key -------------------------------------------------------------------------------


def _copy_signing_key(source: Platform, target: Platform) -> str:
    key = source.signing_key
    if target.store.dialect == "sqlite":
        existing = _install_key_file(target.settings.data_dir / SIGNING_KEY_FILE, key)
    else:
        existing = _install_key_row(target, key)
    if existing is not None and not hmac.compare_digest(existing, key):
        raise MigrationError("the target already has a signing key of its own (a server has run on it): "
                             "migrate into a fresh database")
    return "copied" if existing is None else "already the source's"


def _install_key_file(path: Path, key: bytes) -> bytes | None:
    """Write `key` to `path` unless a key is there; return the key that was there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    return None


def _install_key_row(target: Platform, key: bytes) -> bytes | None:
    with target.store.session() as s:
        row = s.get(PlatformSecretRow, SIGNING_KEY)
        if row is not None:
            return bytes(row.value)
        s.add(PlatformSecretRow(name=SIGNING_KEY, value=key))
    return None


# --- metadata rows ---------------------------------------------------------------------------------


def _insert_ignoring_existing(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing()
    raise MigrationError(f"no migration into a {dialect} database")


def _row_values(table: Table, row: Mapping[Any, Any]) -> dict[str, Any]:
    """A source row as insert parameters. A JSON column's None is SQL NULL where the column allows it (a
    JSON ``null`` would not match ``IS NULL``), and JSON ``null`` where it does not."""
    values = dict(row)
    for column in table.columns:
        if values.get(column.name) is None and isinstance(column.type, JSON) and column.nullable:
            values[column.name] = null()
    return values


def _copy_table(source: Platform, target: Platform, table: Table, batch_rows: int, report: Report,
                progress: ProgressCallback) -> Counts:
    counts = Counts()
    keys = list(table.primary_key.columns)
    statement = _insert_ignoring_existing(target.store.dialect, table).returning(*keys)
    lexical = table.name == SpeechSegmentRow.__tablename__
    with source.store.session() as src:
        result = src.execute(select(table).order_by(*keys), execution_options={"yield_per": batch_rows})
        for rows in result.mappings().partitions(batch_rows):
            values = [_row_values(table, r) for r in rows]
            try:
                with target.store.session() as dst:
                    inserted = dst.execute(statement, values).all() if values else []
                    if lexical:
                        report.lexical_entries += _index_segments(target, dst, rows, {r[0] for r in inserted})
            except IntegrityError as exc:
                raise MigrationError(f"table {table.name}: a row does not fit the target ({exc.orig})") from exc
            counts.copied += len(inserted)
            counts.skipped += len(values) - len(inserted)
            if len(values) == batch_rows:  # a full batch: more may follow
                progress(Progress("tables", table.name, counts.copied, counts.skipped))
    _advance_sequence(target, table)
    progress(Progress("tables", table.name, counts.copied, counts.skipped, done=True))
    return counts


def _index_segments(target: Platform, session: Session, rows: Sequence[Mapping[Any, Any]], ids: set[Any]) -> int:
    """The lexical entries of the speech segments just inserted, in their transaction."""
    added = 0
    for r in rows:
        if r["id"] in ids:
            target.lexical.add(session, tenant_id=r["tenant_id"], index_id=r["index_id"], video_id=r["video_id"],
                               segment_id=r["id"], content=r["text"])
            added += 1
    return added


def _advance_sequence(target: Platform, table: Table) -> None:
    """Rows were inserted with their ids: PostgreSQL's sequence must continue after the largest, or the next
    clip or segment written by a worker would collide with a copied one."""
    keys = list(table.primary_key.columns)
    if target.store.dialect != "postgresql" or len(keys) != 1 or not isinstance(keys[0].type, Integer):
        return
    column = keys[0]
    with target.store.session() as s:
        sequence = s.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                             {"t": table.name, "c": column.name}).scalar()
        highest = s.execute(select(func.max(column))).scalar()
        if sequence is not None and highest is not None:
            s.execute(text("SELECT setval(CAST(:s AS regclass), GREATEST(:n, (SELECT last_value FROM "
                           f"{sequence})))"), {"s": sequence, "n": int(highest)})


# --- blobs -----------------------------------------------------------------------------------------


def _walk_blobs(root: Path) -> Iterator[tuple[str, Path]]:
    """(key, path) of every blob under `root`, in a stable order; partial writes are not blobs."""
    for dirpath, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            if not name.startswith(_TMP_PREFIX):
                path = Path(dirpath) / name
                yield path.relative_to(root).as_posix(), path


def _copy_blobs(root: Path, target: Platform, resume: bool, batch: int, report: Report,
                progress: ProgressCallback) -> None:
    counts = report.blobs
    seen = 0
    for key, path in _walk_blobs(root):
        try:
            size = path.stat().st_size
        except FileNotFoundError:  # removed since the walk listed it
            continue
        if resume and target.blobs.exists(key) and target.blobs.size(key) == size:
            counts.skipped += 1
        else:
            with open(path, "rb") as f:
                written, _ = target.blobs.put_stream(key, f)
            counts.copied += 1
            report.blob_bytes += written
        seen += 1
        if seen % batch == 0:
            progress(Progress("blobs", "files", counts.copied, counts.skipped, detail=f"{report.blob_bytes} bytes"))
    progress(Progress("blobs", "files", counts.copied, counts.skipped, done=True,
                      detail=f"{report.blob_bytes} bytes"))


# --- vectors ---------------------------------------------------------------------------------------


def _ids(source: Platform, statement: Any) -> Iterator[Any]:
    with source.store.session() as s:
        yield from s.execute(statement, execution_options={"yield_per": 1000})


def _copy_vectors(source: Platform, target: Platform, resume: bool, report: Report,
                  progress: ProgressCallback) -> None:
    indexes = list(_ids(source, select(IndexRow.tenant_id, IndexRow.id).order_by(IndexRow.id)))
    for tenant_id, index_id in indexes:
        scope = {"tenant_id": tenant_id, "index_id": index_id}
        for space in source.vectors.spaces(**scope):
            counts = Counts()
            videos = select(IndexedAssetRow.id).where(IndexedAssetRow.index_id == index_id) \
                .order_by(IndexedAssetRow.id)
            for (video_id,) in _ids(source, videos):
                records = source.vectors.segments_for_video(**scope, space=space, video_id=video_id)
                if not records:
                    continue
                if resume and target.vectors.count(**scope, space=space, video_id=video_id) == len(records):
                    counts.skipped += 1
                    continue
                target.vectors.replace_video(**scope, space=space, video_id=video_id, records=records)
                counts.copied += 1
                report.vector_count += len(records)
            report.vectors.copied += counts.copied
            report.vectors.skipped += counts.skipped
            progress(Progress("vectors", f"{index_id}/{space}", counts.copied, counts.skipped, done=True))

