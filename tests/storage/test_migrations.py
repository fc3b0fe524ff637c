"""The Alembic revisions (`storage/migrations`) and the ORM tables agree: a database migrated to head has
exactly the schema `create_schema` makes, and the initial revision can be undone."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

pytest.importorskip("alembic")

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from framedex.storage import migrations
from framedex.storage.metadata import SqlMetadataStore, register_tables
from framedex.storage.tables import Base


def _diff(url: str) -> list[object]:
    register_tables()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            # the lexical index's own FTS tables are the adapter's, not the ORM's
            return [d for d in compare_metadata(context, Base.metadata)
                    if not (isinstance(d, tuple) and d[0] == "remove_table" and d[1].name.startswith("speech_fts"))]
    finally:
        engine.dispose()


def test_head_matches_the_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    migrations.upgrade(url)
    assert _diff(url) == []


def test_create_schema_matches_head_and_can_be_stamped(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'created.db'}"
    store = SqlMetadataStore(url)
    store.create_schema()
    store.dispose()
    assert _diff(url) == []
    migrations.stamp(url)
    migrations.upgrade(url)  # nothing to do at head


def test_initial_revision_downgrades_to_empty(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    migrations.upgrade(url)
    migrations.downgrade(url, "base")
    engine = create_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    finally:
        engine.dispose()
