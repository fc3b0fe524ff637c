"""Alembic migrations of the metadata schema (`storage/tables*.py`), for deployments whose database outlives
an upgrade (PostgreSQL in the scale-out mode).

`upgrade(url)` brings a database to the newest revision; `stamp(url)` marks a database created by
`SqlMetadataStore.create_schema` (``create_all``) as current. The embedded default still creates its
schema with ``create_all``; the lexical indexes' own tables (SQLite FTS5, PostgreSQL tsvector) are created
by their adapters and are not part of these migrations. A schema change is a new revision here
(``alembic revision --autogenerate`` against a database at head, see `versions/`), and
`tests/storage/test_migrations.py` checks that the revisions and the tables agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(config(url), revision)


def stamp(url: str, revision: str = "head") -> None:
    from alembic import command

    command.stamp(config(url), revision)


def downgrade(url: str, revision: str) -> None:
    from alembic import command

    command.downgrade(config(url), revision)
