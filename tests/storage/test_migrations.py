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


def _lexical(change: object) -> bool:
    if not isinstance(change, tuple) or change[0] not in ("remove_table", "remove_index"):
        return False
    table = change[1] if change[0] == "remove_table" else change[1].table
    return str(table.name).startswith("speech_fts")


def _diff(url: str) -> list[object]:
    register_tables()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            # the lexical index's own FTS tables (and their indexes) are the adapter's, not the ORM's
            return [d for d in compare_metadata(context, Base.metadata) if not _lexical(d)]
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


def test_an_older_revision_is_upgraded_at_start(tmp_path: Path) -> None:
    """A database stamped at an earlier revision (a data dir from an older release) is brought to head by the
    first process that opens it: the later revisions' tables appear, the stamp moves, the data stays."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrations.upgrade(url, "0001")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO tenants (id, name, created_at, updated_at) "
                          "VALUES ('t1', 'kept', '2026-01-01', '2026-01-01')"))
    engine.dispose()
    store = SqlMetadataStore(url)
    store.create_schema()
    store.dispose()
    assert _diff(url) == []
    engine = create_engine(url)
    with engine.connect() as conn:
        assert migrations.current_revision(conn) == migrations.head_revision()
        assert conn.execute(text("SELECT name FROM tenants")).scalar_one() == "kept"
    engine.dispose()


def test_postgres_schema_comes_from_the_same_revisions(postgres_url: str) -> None:
    """On PostgreSQL both paths give the ORM's schema too: the revisions replayed, and a fresh start."""
    migrations.upgrade(postgres_url)
    assert _diff(postgres_url) == []
    store = SqlMetadataStore(postgres_url)
    store.create_schema()  # already at head: nothing to do
    store.dispose()
    assert _diff(postgres_url) == []


def test_db_commands_report_and_upgrade(tmp_path: Path) -> None:
    """`framedex db current` exits 1 while the database is behind; `framedex db upgrade` brings it to head."""
    from typer.testing import CliRunner

    from framedex.cli.main import app

    migrations.upgrade(f"sqlite:///{(tmp_path / 'framedex.db').resolve()}", "0001")
    runner = CliRunner()
    behind = runner.invoke(app, ["db", "current", "--data-dir", str(tmp_path)])
    assert behind.exit_code == 1 and behind.stdout.startswith("0001")
    upgraded = runner.invoke(app, ["db", "upgrade", "--data-dir", str(tmp_path)])
    assert upgraded.exit_code == 0, upgraded.output
    current = runner.invoke(app, ["db", "current", "--data-dir", str(tmp_path)])
    assert current.exit_code == 0 and current.stdout.startswith(migrations.head_revision())
