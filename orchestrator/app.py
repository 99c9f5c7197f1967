"""The application factory: wires settings, the database and the routes into one aiohttp app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from db import rate_limits, revoked_tokens
from db.embedded import EmbeddedPostgres
from db.migrate import load_migrations, migrate
from db.pool import create_pool
from orchestrator.api import ApiRoutes
from orchestrator.auth import authenticate
from orchestrator.config import Settings
from orchestrator.keys import MIGRATIONS, POOL, SETTINGS, TOKENS
from orchestrator.middleware import json_errors, request_context
from orchestrator.routes import accounts, health, personas
from orchestrator.tokens import TokenService

log = logging.getLogger(__name__)

VERSION = "0.1.0"
API = ApiRoutes.combine(health.routes, accounts.routes, personas.routes)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(
        middlewares=[request_context, json_errors], client_max_size=settings.server.max_body_bytes
    )
    app[SETTINGS] = settings
    app[TOKENS] = TokenService(settings.auth)
    app[health.OPENAPI] = API.openapi("Call Me Back", VERSION)
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(housekeeping)
    API.install(app, authenticate)
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    """Connect (starting the embedded PostgreSQL if no URL is set), migrate, and open the pool."""
    settings = app[SETTINGS]
    embedded = None
    dsn = settings.database.url
    if not dsn:
        embedded = EmbeddedPostgres(settings.server.data_dir / "postgres")
        dsn = await embedded.start()
    try:
        migrations = await asyncio.to_thread(load_migrations)
        pool = await create_pool(
            dsn,
            min_size=settings.database.pool_min_size,
            max_size=settings.database.pool_max_size,
            command_timeout_s=settings.database.command_timeout_s,
        )
        try:
            async with pool.acquire() as conn:
                await migrate(conn, migrations)
            app[MIGRATIONS] = migrations
            app[POOL] = pool
            yield
        finally:
            await pool.close()
    finally:
        if embedded is not None:
            await embedded.stop()


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Purge expired revoked tokens and rate-limit counters now and then."""

    async def purge_forever() -> None:
        while True:
            try:
                pool = app[POOL]
                tokens = await revoked_tokens.purge_expired(pool)
                counters = await rate_limits.purge_expired(pool)
                log.debug("purged %d revoked tokens and %d counters", tokens, counters)
            except Exception:  # a database blip must not end housekeeping for good
                log.warning("housekeeping purge failed; will retry", exc_info=True)
            await asyncio.sleep(app[SETTINGS].auth.purge_interval_s)

    task = asyncio.get_running_loop().create_task(purge_forever(), name="housekeeping")
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
