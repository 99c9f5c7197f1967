"""What a persona remembers about me, and my relationship notes with it.

Every query is keyed by the authenticated user AND the persona (which must be visible to them), so
another user's memory is never reachable: a fact id that is not mine is simply not found.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from db import memory, personas
from orchestrator.api import ApiRequest, ApiRoutes
from orchestrator.errors import not_found
from orchestrator.keys import POOL
from orchestrator.schemas import PERSONA_ID
from personas.memory import CATEGORIES, MAX_FACT_CHARS

routes = ApiRoutes()
_ID = {"persona_id": PERSONA_ID}
_FACT_ID = {"persona_id": PERSONA_ID, "fact_id": {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}}
_TIME = {"type": "string", "format": "date-time"}
FACT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "content", "category", "importance", "source_call_id", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "content": {"type": "string"},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "importance": {"type": "integer", "minimum": 1, "maximum": 5},
        "source_call_id": {"type": ["string", "null"], "format": "uuid"},
        "created_at": _TIME,
        "updated_at": _TIME,
        "last_confirmed_at": _TIME,
    },
}
FACT_LIST = {"type": "object", "required": ["facts"], "properties": {"facts": {"type": "array", "items": FACT}}}
FACT_UPDATE = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {
        "content": {"type": "string", "minLength": 1, "maxLength": MAX_FACT_CHARS, "pattern": r"\S"},
        "category": {"type": "string", "enum": list(CATEGORIES)},
        "importance": {"type": "integer", "minimum": 1, "maximum": 5},
    },
}
FORGOTTEN = {"type": "object", "required": ["forgotten"], "properties": {"forgotten": {"type": "integer"}}}
RELATIONSHIP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["notes"],
    "properties": {"notes": {"type": "string", "maxLength": 2000}},
}


def fact_json(row: asyncpg.Record) -> dict[str, Any]:
    source = row["source_call_id"]
    return {
        "id": row["id"],
        "content": row["content"],
        "category": row["category"],
        "importance": row["importance"],
        "source_call_id": str(source) if source else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "last_confirmed_at": row["last_confirmed_at"].isoformat(),
    }


async def _persona_id(req: ApiRequest) -> str:
    row = await personas.get_persona(req.app[POOL], req.user["id"], req.path("persona_id"))
    if row is None:
        raise not_found("persona")
    return row["id"]


@routes.route(
    "GET",
    "/api/personas/{persona_id}/memory",
    summary="What this persona remembers about me (most important, then newest, first)",
    tag="memory",
    path_params=_ID,
    responses={200: ("Facts", FACT_LIST)},
)
async def list_memory(req: ApiRequest) -> web.Response:
    rows = await memory.list_facts(req.app[POOL], req.user["id"], await _persona_id(req))
    return web.json_response({"facts": [fact_json(row) for row in rows]})


@routes.route(
    "PATCH",
    "/api/personas/{persona_id}/memory/{fact_id}",
    summary="Correct a remembered fact",
    tag="memory",
    path_params=_FACT_ID,
    body=FACT_UPDATE,
    responses={200: ("Updated", FACT)},
)
async def update_memory(req: ApiRequest) -> web.Response:
    changes = {k: v.strip() if isinstance(v, str) else v for k, v in req.body.items()}
    row = await memory.update_fact(
        req.app[POOL], req.user["id"], await _persona_id(req), int(req.path("fact_id")), changes
    )
    if row is None:
        raise not_found("fact")
    return web.json_response(fact_json(row))


@routes.route(
    "DELETE",
    "/api/personas/{persona_id}/memory/{fact_id}",
    summary="Forget one fact",
    tag="memory",
    path_params=_FACT_ID,
    responses={204: ("Forgotten", None)},
)
async def delete_memory(req: ApiRequest) -> web.Response:
    if not await memory.delete_fact(req.app[POOL], req.user["id"], await _persona_id(req), int(req.path("fact_id"))):
        raise not_found("fact")
    return web.Response(status=204)


@routes.route(
    "DELETE",
    "/api/personas/{persona_id}/memory",
    summary="Forget me: every fact this persona remembers about me, and extractions still pending",
    tag="memory",
    path_params=_ID,
    responses={200: ("Number of facts forgotten", FORGOTTEN)},
)
async def forget_me(req: ApiRequest) -> web.Response:
    count = await memory.forget(req.app[POOL], req.user["id"], await _persona_id(req))
    return web.json_response({"forgotten": count})


@routes.route(
    "PUT",
    "/api/personas/{persona_id}/relationship",
    summary="My notes on my relationship with this persona (it reads them as information, in every call)",
    tag="memory",
    path_params=_ID,
    body=RELATIONSHIP,
    responses={200: ("Saved", RELATIONSHIP)},
)
async def put_relationship(req: ApiRequest) -> web.Response:
    notes = req.body["notes"].strip()
    await memory.set_relationship_notes(req.app[POOL], req.user["id"], await _persona_id(req), notes)
    return web.json_response({"notes": notes})
