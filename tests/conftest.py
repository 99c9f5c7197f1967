"""Test session fixtures: a real PostgreSQL (embedded pgserver, or TEST_DATABASE_URL), real aiohttp servers.

Each test module that needs the API gets the session server; tests that change global state (migrations,
throttling limits) make their own database or server through the factories below.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from db.embedded import EmbeddedPostgres
from orchestrator.app import create_app
from orchestrator.config import Settings, load_settings

JWT_SECRET = secrets.token_urlsafe(48)


def _with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
async def pg_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A PostgreSQL server for the whole session: TEST_DATABASE_URL if given, else an embedded one."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    folder = tmp_path_factory.mktemp("pg")
    server = EmbeddedPostgres(folder)
    dsn = _with_database(await server.start(), "postgres")
    # Dozens of test servers live for the whole session, each with its pool: more than the default 100.
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("ALTER SYSTEM SET max_connections = 400")
    finally:
        await conn.close()
    await server.stop()
    server = EmbeddedPostgres(folder)
    dsn = _with_database(await server.start(), "postgres")
    yield dsn
    await server.stop()


@pytest.fixture(scope="session")
async def make_database(pg_admin_dsn: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """Factory: a fresh, empty database; all are dropped at the end of the session."""
    created: list[str] = []

    async def make() -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(pg_admin_dsn)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return _with_database(pg_admin_dsn, name)

    yield make
    conn = await asyncpg.connect(pg_admin_dsn)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def make_settings(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Settings]:
    """Factory: settings as `serve` would load them, for a given database, with extra env if needed."""

    def make(database_url: str, **env: str) -> Settings:
        base = {
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "CALLMEBACK_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        }
        settings = load_settings(env={**base, **env})
        # Test servers live for the whole session and share one PostgreSQL (100 connections): small pools.
        return replace(settings, database=replace(settings.database, pool_min_size=1, pool_max_size=4))

    return make


@pytest.fixture(scope="session")
async def make_client(
    make_database: Callable[[], Awaitable[str]], make_settings: Callable[..., Settings]
) -> AsyncIterator[Callable[..., Awaitable[TestClient]]]:
    """Factory: a real server on 127.0.0.1 over a fresh migrated database, settings adjusted by `tune`."""
    clients: list[TestClient] = []

    async def make(tune: Callable[[Settings], Settings] = lambda s: s) -> TestClient:
        settings = tune(make_settings(await make_database()))
        client = TestClient(TestServer(create_app(settings), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture(scope="session")
async def client(make_client: Callable[..., Awaitable[TestClient]]) -> TestClient:
    """The shared API server; per-address login and sign-up throttling is relaxed (every test is 127.0.0.1)."""

    def relaxed(settings: Settings) -> Settings:
        auth = replace(settings.auth, login_attempts_per_address=100_000, registrations_per_address=100_000)
        return replace(settings, auth=auth)

    return await make_client(relaxed)


@pytest.fixture
def unique_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.test"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
