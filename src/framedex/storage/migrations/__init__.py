"""Alembic migrations of the metadata schema (`storage/tables*.py`), for deployments whose database outlives
an upgrade (PostgreSQL in the scale-out mode).

Every process runs `SqlMetadataStore.create_schema` at start-up, which keeps the schema current on both
stacks: an empty database gets the tables of head in one ``create_all`` and is stamped at head (one step
instead of replaying revisions; `tests/storage/test_migrations.py` proves the two give the same schema); a
stamped database below head is upgraded with these revisions; all under a lock, so that processes starting
together on one database migrate it once. `framedex db upgrade` does the same on demand (a deployment that
migrates before rolling out new processes). The lexical indexes' own tables (SQLite FTS5, PostgreSQL
tsvector) are created by their adapters and are not part of these migrations. A schema change is a new revision here
(``alembic revision --autogenerate`` against a database at head, see `versions/`), and
`tests/storage/test_migrations.py` checks that the revisions and the tables agree.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, inspect, text

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "alembic_version"


def config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head", *, connection: Connection | None = None) -> None:
    """With `connection`, inside the caller's transaction (and its lock); otherwise on a connection of its own."""
    from alembic import command

    cfg = config(url)
    if connection is not None:
        cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


@cache
def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is stamped at; None when it has never been stamped."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    return connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one_or_none()


def write_stamp(connection: Connection, revision: str) -> None:
    """What ``alembic stamp`` writes, in the caller's transaction."""
    connection.execute(text(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} "
                            "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
    connection.execute(text(f"DELETE FROM {VERSION_TABLE}"))
    connection.execute(text(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (:v)"), {"v": revision})


def stamp(url: str, revision: str = "head") -> None:
    from alembic import command

    command.stamp(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(config(url), revision)
