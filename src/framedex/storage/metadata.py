"""The metadata store port and its SQLAlchemy adapter (SQLite embedded, PostgreSQL for scale-out).

Services use ORM statements (portable) through `MetadataStore.session()`; anything
dialect-specific (SQLite pragmas, FTS5, row locking) lives in this package only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, String, create_engine, event, inspect, text
from sqlalchemy.orm import Mapper, Session, sessionmaker

from framedex.domain_errors import InvalidParameter
from framedex.storage.tables import Base

_SCHEMA_LOCK = 0x66647873  # PostgreSQL advisory-lock key of schema changes ("fdxs")


@cache
def _string_columns(mapper: Mapper[Any]) -> tuple[tuple[str, str, int | None], ...]:
    """(attribute, column name, length or None) of each string column of a mapped class."""
    return tuple((attr.key, col.name, col.type.length) for attr in mapper.column_attrs for col in attr.columns
                 if isinstance(col.type, String))


def _check_strings(session: Session, _context: Any, _instances: Any) -> None:
    """Make every string fit PostgreSQL before it is written, on every dialect alike, so that both stacks
    accept and refuse the same input. PostgreSQL fails a statement that holds a string longer than its
    column or a NUL character (a 500 for whoever sent it), where SQLite stores either. Bounded columns hold
    what users name and send (names, file names, content types, their ids): refused, naming the field.
    Unbounded text comes from models and documents (transcripts, on-screen text, prompts): NULs, which no
    reader wants, are dropped."""
    for obj in (*session.new, *session.dirty):
        for attr, column, length in _string_columns(inspect(obj).mapper):
            value = getattr(obj, attr, None)
            if not isinstance(value, str):
                continue
            if length is None:
                if "\x00" in value:
                    setattr(obj, attr, value.replace("\x00", ""))
            elif len(value) > length:
                raise InvalidParameter(column, f"It must be at most {length} characters long.")
            elif "\x00" in value:
                raise InvalidParameter(column, "It must not contain NUL characters.")


class MetadataStore(Protocol):
    dialect: str

    def session(self, *, immediate: bool = False) -> AbstractContextManager[Session]:
        """A Session committed on success, rolled back on error; `immediate` takes the write lock before
        the first read (read-modify-write)."""
        ...

    def create_schema(self) -> None: ...

    def dispose(self) -> None: ...


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets API readers run while a worker writes; busy_timeout makes writers queue
    # instead of failing with "database is locked" under concurrent workers.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def register_tables() -> None:
    """Import every table module so `Base.metadata` holds the whole schema (create_all, migrations)."""
    # The analyze-task, embed-task, entity, import, knowledge-store, rate-limit and rendition tables.
    from framedex.storage import (  # noqa: F401
        tables_analysis,
        tables_entities,
        tables_imports,
        tables_knowledge,
        tables_limits,
        tables_streaming,
    )


class SqlMetadataStore:
    """SQLAlchemy adapter: `sqlite:///path` (WAL) or `postgresql+psycopg://...`."""

    def __init__(self, url: str) -> None:
        url = self.normalize_url(url)
        self.url = url
        kwargs: dict[str, Any] = {"future": True}
        if url.startswith("sqlite"):
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(url, **kwargs)
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", _check_strings)

    @staticmethod
    def normalize_url(url: str) -> str:
        """Plain ``postgresql://`` would select psycopg2; the project depends on psycopg 3."""
        if url.startswith(("postgresql://", "postgres://")):
            return "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    def create_schema(self) -> None:
        """Bring the database to the newest schema revision (see `storage.migrations`): an empty one gets
        head's tables and stamp, a stamped one is upgraded, an unstamped one (made before migrations existed)
        gets its missing tables and the stamp. One process at a time: PostgreSQL's advisory lock, SQLite's
        write lock (``BEGIN IMMEDIATE``), so processes starting together migrate once."""
        from framedex.storage import migrations

        register_tables()
        head = migrations.head_revision()
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif self.dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            current = migrations.current_revision(conn)
            if current is None:
                Base.metadata.create_all(conn)
                migrations.write_stamp(conn, head)
            elif current != head:
                migrations.upgrade(self.url, connection=conn)
            conn.commit()
        if self.dialect == "sqlite":
            from framedex.storage.lexical import SqliteLexicalIndex

            SqliteLexicalIndex.create_schema(self.engine)
        elif self.dialect == "postgresql":
            from framedex.storage.lexical_postgres import PostgresLexicalIndex

            PostgresLexicalIndex.create_schema(self.engine)

    @contextmanager
    def session(self, *, immediate: bool = False) -> Iterator[Session]:
        """A session committed on success. `immediate=True` is for read-modify-write: the pysqlite
        driver only begins a transaction at the first write, so two sessions could read the same row,
        each merge their change and the later write would drop the earlier one. `BEGIN IMMEDIATE`
        takes SQLite's write lock before the read, so such sessions run one after the other
        (PostgreSQL callers lock the row with `with_for_update` instead)."""
        session = self._sessions()
        try:
            if immediate and self.dialect == "sqlite":
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
