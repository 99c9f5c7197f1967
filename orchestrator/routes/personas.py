"""Personas: the built-ins (read-only) and each user's own, plus favorites."""

from __future__ import annotations

from aiohttp import web

from db import personas
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.errors import ApiError, not_found
from orchestrator.keys import POOL
from orchestrator.schemas import PERSONA, PERSONA_CREATE, PERSONA_ID, PERSONA_LIST, PERSONA_UPDATE
from orchestrator.serialize import persona_json

routes = ApiRoutes()
_ID = {"persona_id": PERSONA_ID}
_BUILTIN = (403, ("Built-in personas are read-only", ERROR_SCHEMA))


async def _visible(req: ApiRequest) -> dict:
    row = await personas.get_persona(req.app[POOL], req.user["id"], req.path("persona_id"))
    if row is None:
        raise not_found("persona")
    return row


def _refuse_builtin(row: dict) -> None:
    if row["owner_id"] is None:
        raise ApiError(403, "read_only", "built-in personas cannot be changed")


@routes.route(
    "GET",
    "/api/personas",
    summary="Built-in personas and mine",
    tag="personas",
    responses={200: ("Personas", PERSONA_LIST)},
)
async def list_personas(req: ApiRequest) -> web.Response:
    rows = await personas.list_personas(req.app[POOL], req.user["id"])
    return web.json_response({"personas": [persona_json(row) for row in rows]})


@routes.route(
    "POST",
    "/api/personas",
    summary="Create my own persona",
    tag="personas",
    body=PERSONA_CREATE,
    responses={201: ("Created", PERSONA)},
)
async def create_persona(req: ApiRequest) -> web.Response:
    row = await personas.create_persona(req.app[POOL], req.user["id"], _clean(req.body))
    return web.json_response(persona_json(row), status=201)


@routes.route(
    "GET",
    "/api/personas/{persona_id}",
    summary="One persona",
    tag="personas",
    path_params=_ID,
    responses={200: ("Persona", PERSONA)},
)
async def get_persona(req: ApiRequest) -> web.Response:
    return web.json_response(persona_json(await _visible(req)))


@routes.route(
    "PATCH",
    "/api/personas/{persona_id}",
    summary="Change my persona",
    tag="personas",
    path_params=_ID,
    body=PERSONA_UPDATE,
    responses={200: ("Updated", PERSONA), 403: _BUILTIN[1]},
)
async def update_persona(req: ApiRequest) -> web.Response:
    _refuse_builtin(await _visible(req))
    row = await personas.update_persona(req.app[POOL], req.user["id"], req.path("persona_id"), _clean(req.body))
    if row is None:
        raise not_found("persona")
    return web.json_response(persona_json(row))


@routes.route(
    "DELETE",
    "/api/personas/{persona_id}",
    summary="Delete my persona (past calls keep it)",
    tag="personas",
    path_params=_ID,
    responses={204: ("Deleted", None), 403: _BUILTIN[1]},
)
async def delete_persona(req: ApiRequest) -> web.Response:
    _refuse_builtin(await _visible(req))
    if not await personas.delete_persona(req.app[POOL], req.user["id"], req.path("persona_id")):
        raise not_found("persona")
    return web.Response(status=204)


@routes.route(
    "PUT",
    "/api/personas/{persona_id}/favorite",
    summary="Mark as a favorite",
    tag="personas",
    path_params=_ID,
    responses={200: ("Persona", PERSONA)},
)
async def add_favorite(req: ApiRequest) -> web.Response:
    return await _set_favorite(req, True)


@routes.route(
    "DELETE",
    "/api/personas/{persona_id}/favorite",
    summary="Unmark as a favorite",
    tag="personas",
    path_params=_ID,
    responses={200: ("Persona", PERSONA)},
)
async def remove_favorite(req: ApiRequest) -> web.Response:
    return await _set_favorite(req, False)


async def _set_favorite(req: ApiRequest, favorite: bool) -> web.Response:
    row = await _visible(req)
    await personas.set_favorite(req.app[POOL], req.user["id"], row["id"], favorite)
    return web.json_response(persona_json(await _visible(req)))


def _clean(body: dict) -> dict:
    """Trim the text fields a person types, so ' Coach ' and 'Coach' are one name."""
    return {
        key: value.strip() if isinstance(value, str) and key != "core_prompt" else value for key, value in body.items()
    }
