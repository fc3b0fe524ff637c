"""Alembic environment: the metadata of every framedex table, the URL from the caller's config."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine, pool

from framedex.storage.metadata import register_tables
from framedex.storage.tables import Base

register_tables()
target_metadata = Base.metadata


def _render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Custom column types render as ``framedex.storage.types.X()`` with the import the revision needs."""
    if type_ == "type" and type(obj).__module__ == "framedex.storage.types":
        autogen_context.imports.add("import framedex.storage.types")
        return f"framedex.storage.types.{type(obj).__name__}()"
    return False


def _migrate(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_item=_render_item,
                      render_as_batch=connection.dialect.name == "sqlite", compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    given: Connection | None = context.config.attributes.get("connection")
    if given is not None:  # `SqlMetadataStore.create_schema` migrates in its own locked transaction
        _migrate(given)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _migrate(connection)
    engine.dispose()


run()
