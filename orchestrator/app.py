"""The application factory: wires settings, the database and the routes into one aiohttp app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from db import rate_limits, revoked_tokens, stream_tokens
from db.recorder import Recorder
from media.call import Call, CallLines, CallSettings, Engines
from orchestrator.api import ApiRoutes
from orchestrator.auth import authenticate
from orchestrator.config import Settings
from orchestrator.database import open_database
from orchestrator.engines import configured_engines
from orchestrator.keys import (
    CALL_SETTINGS,
    DRAINING,
    ENGINES,
    LIVE_CALLS,
    METRICS,
    MIGRATIONS,
    POOL,
    RECORDER,
    SETTINGS,
    TOKENS,
)
from orchestrator.memory_worker import memory_worker
from orchestrator.metrics import Metrics, metrics_context
from orchestrator.middleware import json_errors, request_context
from orchestrator.routes import (
    accounts,
    calls,
    designer,
    health,
    memory,
    metrics,
    personas,
    phone,
    schedules,
    softphone,
    talk,
    twilio,
)
from orchestrator.routes import web as web_app
from orchestrator.scheduler import scheduler
from orchestrator.security import setup as setup_security
from orchestrator.telephony_setup import telephony
from orchestrator.tokens import TokenService

log = logging.getLogger(__name__)

VERSION = "0.1.0"
API = ApiRoutes.combine(
    health.routes,
    accounts.routes,
    personas.routes,
    phone.routes,
    calls.routes,
    schedules.routes,
    twilio.routes,
    memory.routes,
    designer.routes,
    metrics.routes,
    talk.routes,
    softphone.routes,
)


def create_app(settings: Settings, *, engines: Engines | None = None) -> web.Application:
    """The server. `engines` replaces the configured speech and language engines (tests, benchmarks)."""
    app = web.Application(middlewares=[request_context, json_errors], client_max_size=settings.server.max_body_bytes)
    app[SETTINGS] = settings
    app[TOKENS] = TokenService(settings.auth)
    app[health.OPENAPI] = API.openapi("Call Me Back", VERSION)
    app[CALL_SETTINGS] = call_settings(settings)
    app[LIVE_CALLS] = set[Call]()
    app[DRAINING] = asyncio.Event()
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(metrics_context(app[METRICS], lambda: len(app[LIVE_CALLS])))
    setup_security(app)
    app.cleanup_ctx.append(database)
    app.cleanup_ctx.append(recorder)
    if engines is None:
        app.cleanup_ctx.append(configured_engines)
    else:
        app[ENGINES] = engines
    app.cleanup_ctx.append(telephony)
    app.cleanup_ctx.append(housekeeping)
    app.cleanup_ctx.append(scheduler)
    if engines is None:  # with injected engines (tests, benchmarks) a test adds memory_worker itself
        app.cleanup_ctx.append(memory_worker)
    API.install(app, authenticate)
    web_app.setup(app)  # the browser app at /, after the API so /api/... stays the API's
    return app


async def database(app: web.Application) -> AsyncIterator[None]:
    """Connect (starting the embedded PostgreSQL if no URL is set), migrate, and open the pool."""
    async with open_database(app[SETTINGS]) as db:
        app[MIGRATIONS] = db.migrations
        app[POOL] = db.pool
        yield


def call_settings(settings: Settings) -> CallSettings:
    section = settings.call
    return CallSettings(
        turns=settings.turns,
        vad=settings.vad,
        pacer=settings.pacer,
        lines=CallLines(
            fallback=section.fallback_line,
            still_there=section.still_there_line,
            idle_goodbye=section.idle_goodbye_line,
            time_warning=section.time_warning_line,
            time_goodbye=section.time_goodbye_line,
            shutdown_goodbye=section.shutdown_goodbye_line,
        ),
        first_token_timeout_s=section.first_token_timeout_s,
        stt_timeout_s=section.stt_timeout_s,
        tts_timeout_s=section.tts_timeout_s,
        idle_prompt_s=section.idle_prompt_s,
        idle_hangup_s=section.idle_hangup_s,
        time_warning_s=section.time_warning_s,
        min_transcript_chars=section.min_transcript_chars,
    )


async def recorder(app: web.Application) -> AsyncIterator[None]:
    """The app-wide call recorder; drained before the pool closes so no accepted row is lost."""
    writer = Recorder(app[POOL], app[SETTINGS].database.recorder_buffer_rows)
    app[RECORDER] = writer
    task = asyncio.get_running_loop().create_task(writer.run(), name="recorder")
    try:
        yield
    finally:
        for call in list(app[LIVE_CALLS]):
            await call.transport.close()
        try:
            async with asyncio.timeout(10):
                await writer.flush()
        except TimeoutError:
            log.error("recorder: %d rows could not be written before shutdown", writer.pending)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Purge expired revoked tokens and rate-limit counters now and then."""

    async def purge_forever() -> None:
        while True:
            try:
                pool = app[POOL]
                tokens = await revoked_tokens.purge_expired(pool)
                counters = await rate_limits.purge_expired(pool)
                await stream_tokens.purge_expired(pool)
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
