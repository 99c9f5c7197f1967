"""Every application-wide object, as a typed AppKey (aiohttp's data sharing without globals)."""

from __future__ import annotations

import asyncpg
from aiohttp import web

from db.migrate import Migration
from orchestrator.config import Settings
from orchestrator.tokens import TokenService

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
TOKENS = web.AppKey("tokens", TokenService)
MIGRATIONS = web.AppKey("migrations", list[Migration])
