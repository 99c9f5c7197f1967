"""Liveness and readiness probes, and the OpenAPI document."""

from __future__ import annotations

import asyncio

import asyncpg
from aiohttp import web

from db.errors import MigrationError
from db.migrate import pending_migrations
from orchestrator.api import ApiRequest, ApiRoutes
from orchestrator.keys import DRAINING, MIGRATIONS, POOL

routes = ApiRoutes()
OPENAPI = web.AppKey("openapi", dict)
_STATUS = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"type": "string"}, "reason": {"type": "string"}},
}
_READY_TIMEOUT_S = 2.0


@routes.route(
    "GET",
    "/healthz",
    summary="The process is alive",
    tag="health",
    auth=False,
    responses={200: ("Alive", _STATUS)},
)
async def healthz(req: ApiRequest) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.route(
    "GET",
    "/readyz",
    summary="Taking calls: not shutting down, the database reachable and the schema current",
    tag="health",
    auth=False,
    responses={200: ("Ready", _STATUS), 503: ("Not ready", _STATUS)},
)
async def readyz(req: ApiRequest) -> web.Response:
    if req.app[DRAINING].is_set():
        return web.json_response({"status": "draining", "reason": "shutting down: no new calls"}, status=503)
    try:
        async with asyncio.timeout(_READY_TIMEOUT_S), req.app[POOL].acquire() as conn:
            pending = await pending_migrations(conn, req.app[MIGRATIONS])
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        return web.json_response({"status": "unavailable", "reason": "database unreachable"}, status=503)
    except MigrationError:
        return web.json_response({"status": "unavailable", "reason": "schema is not this version's"}, status=503)
    if pending:
        return web.json_response({"status": "unavailable", "reason": "migrations pending"}, status=503)
    return web.json_response({"status": "ready"})


@routes.route(
    "GET",
    "/api/openapi.json",
    summary="This document",
    tag="health",
    auth=False,
    responses={200: ("OpenAPI 3.1 document", {"type": "object"})},
)
async def openapi(req: ApiRequest) -> web.Response:
    return web.json_response(req.app[OPENAPI])
