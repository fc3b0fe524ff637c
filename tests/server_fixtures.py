"""Session fixtures: the real scale-out servers (PostgreSQL + pgvector, Redis, S3) for the contract, platform
and cluster tests (registered for the whole suite by `pytest_plugins` in tests/conftest.py).

Each server starts once per test session on a free loopback port, in a temp dir, and stops at the end.
Nothing is skipped: a server that cannot start fails the tests that need it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.servers import Server, running


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("postgres", tmp_path_factory.mktemp("postgres")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("redis", tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running("s3", tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: Server) -> Iterator[str]:
    """A fresh database per test (the isolation the SQLite tests get from a fresh file), dropped after."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    admin = postgres_server.url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
