"""Opening the configured database: the URL's server, or the embedded PostgreSQL started on demand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from db.embedded import EmbeddedPostgres
from db.migrate import Migration, load_migrations, migrate
from db.pool import create_pool
from orchestrator.config import Settings


@dataclass(frozen=True)
class Database:
    pool: asyncpg.Pool
    migrations: list[Migration]
    applied: list[Migration]  # applied by this opening


@asynccontextmanager
async def open_database(settings: Settings, *, max_size: int | None = None) -> AsyncIterator[Database]:
    """Migrate, then yield a pool; on exit close it and release the embedded server if we started one."""
    embedded = None
    dsn = settings.database.url
    if not dsn:
        embedded = EmbeddedPostgres(settings.server.data_dir / "postgres")
        dsn = await embedded.start()
    try:
        migrations = await asyncio.to_thread(load_migrations)
        size = settings.database.pool_max_size if max_size is None else max_size
        pool = await create_pool(
            dsn,
            min_size=min(settings.database.pool_min_size, size),
            max_size=size,
            command_timeout_s=settings.database.command_timeout_s,
        )
        try:
            async with pool.acquire() as conn:
                applied = await migrate(conn, migrations)
            yield Database(pool, migrations, applied)
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await embedded.stop()
