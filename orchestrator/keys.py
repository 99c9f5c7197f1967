"""Every application-wide object, as a typed AppKey (aiohttp's data sharing without globals)."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from db.migrate import Migration
from db.recorder import Recorder
from media.call import Call, CallSettings, Engines
from orchestrator.config import Settings
from orchestrator.metrics import Metrics
from orchestrator.telephony import Telephony
from orchestrator.tokens import TokenService

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
TOKENS = web.AppKey("tokens", TokenService)
MIGRATIONS = web.AppKey("migrations", list[Migration])
TELEPHONY = web.AppKey("telephony", Telephony)
RECORDER = web.AppKey("recorder", Recorder)
ENGINES = web.AppKey("engines", Engines)
CALL_SETTINGS = web.AppKey("call_settings", CallSettings)
LIVE_CALLS = web.AppKey("live_calls", set[Call])
METRICS = web.AppKey("metrics", Metrics)
DRAINING = web.AppKey("draining", asyncio.Event)  # set when shutdown begins: no new calls are taken
