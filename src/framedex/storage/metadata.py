"""The metadata store port and its SQLAlchemy adapter (SQLite embedded, PostgreSQL for scale-out).

Services use ORM statements (portable) through `MetadataStore.session()`; anything
dialect-specific (SQLite pragmas, FTS5, row locking) lives in this package only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from framedex.storage.tables import Base


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
        # Plain `postgresql://` would select psycopg2; the project depends on psycopg 3.
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
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

    def create_schema(self) -> None:
        register_tables()
        Base.metadata.create_all(self.engine)
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
