"""Calls: "call me now", my call history, one call's record, hanging up, and what my calls used."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from db import calls, personas, usage
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.calls import hang_up, place_call
from orchestrator.errors import ApiError, not_found
from orchestrator.keys import POOL, SETTINGS
from orchestrator.schemas import CALL, CALL_DETAIL, CALL_PAGE, MY_USAGE, PERSONA_ID
from orchestrator.serialize import call_event_json, call_json, utterance_json
from orchestrator.usage import month_start, usage_json

routes = ApiRoutes()
_UUID = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
_CALL_ID = {"call_id": _UUID}
PLACE_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["persona_id"],
    "properties": {"persona_id": PERSONA_ID, "context": {"type": "string", "maxLength": 2000}},
}


@routes.route(
    "POST",
    "/api/calls",
    summary="Call me now",
    tag="calls",
    body=PLACE_BODY,
    responses={
        202: ("Call placed (or failed at the provider: see status and error)", CALL),
        402: ("This month's call minutes are used up", ERROR_SCHEMA),
        403: ("Phone not verified, or destination not allowed", ERROR_SCHEMA),
        404: ("No such persona (persona_id)", ERROR_SCHEMA),
        409: ("A call is already in progress", ERROR_SCHEMA),
        503: ("The server is shutting down (retry: another process takes the call)", ERROR_SCHEMA),
    },
)
async def create_call(req: ApiRequest) -> web.Response:
    persona = await personas.get_persona(req.app[POOL], req.user["id"], req.body["persona_id"])
    if persona is None:
        raise ApiError(404, "not_found", "persona not found", field="persona_id")
    call = await place_call(req.app, req.user, persona, req.body.get("context", "").strip())
    return web.json_response(call_json(call), status=202)


@routes.route(
    "GET",
    "/api/calls",
    summary="My calls, newest first",
    tag="calls",
    query={"limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}, "before": _UUID},
    responses={200: ("A page of calls", CALL_PAGE)},
)
async def list_calls(req: ApiRequest) -> web.Response:
    pool, user_id, limit = req.app[POOL], req.user["id"], req.query["limit"]
    before = None
    if "before" in req.query:
        anchor = await calls.get_call(pool, user_id, uuid.UUID(req.query["before"]))
        if anchor is None:
            raise ApiError(400, "invalid_query", "before is not one of your calls", field="before")
        before = (anchor["requested_at"], anchor["id"])
    rows = await calls.list_calls(pool, user_id, limit, before)
    next_cursor = str(rows[-1]["id"]) if len(rows) == limit else None
    return web.json_response({"calls": [call_json(row) for row in rows], "next": next_cursor})


async def _mine(req: ApiRequest):
    call = await calls.get_call(req.app[POOL], req.user["id"], uuid.UUID(req.path("call_id")))
    if call is None:
        raise not_found("call")
    return call


@routes.route(
    "GET",
    "/api/calls/{call_id}",
    summary="One call: status timeline, times, transcript and usage",
    tag="calls",
    path_params=_CALL_ID,
    responses={200: ("The call", CALL_DETAIL)},
)
async def get_call(req: ApiRequest) -> web.Response:
    call = await _mine(req)
    pool = req.app[POOL]
    events = await calls.call_events(pool, call["id"])
    transcript = await calls.utterances(pool, call["id"])
    used = await usage.call_usage(pool, call["id"])
    return web.json_response(
        {
            **call_json(call),
            "events": [call_event_json(row) for row in events],
            "transcript": [utterance_json(row) for row in transcript],
            "usage": usage_json(used, req.app[SETTINGS].pricing),
        }
    )


@routes.route(
    "POST",
    "/api/calls/{call_id}/hangup",
    summary="Hang up a live call",
    tag="calls",
    path_params=_CALL_ID,
    responses={
        202: ("Hang-up requested", CALL),
        409: ("The call has already ended", ERROR_SCHEMA),
        502: ("The provider could not be reached", ERROR_SCHEMA),
    },
)
async def hangup_call(req: ApiRequest) -> web.Response:
    call = await hang_up(req.app, req.user["id"], await _mine(req))
    return web.json_response(call_json(call), status=202)


@routes.route(
    "GET",
    "/api/me/usage",
    summary="What my calls used: this month (in my time zone) and all time, with estimated cost and allowance",
    tag="calls",
    responses={200: ("My usage", MY_USAGE)},
)
async def my_usage(req: ApiRequest) -> web.Response:
    pricing, user = req.app[SETTINGS].pricing, req.user
    start = month_start(user["timezone"], datetime.now(UTC))
    totals = await usage.user_totals(req.app[POOL], user["id"], start)
    month = {**usage_json(totals, pricing, "month_"), "calls": totals["month_calls"]}
    allowance = pricing.monthly_minutes_allowance or None
    left = None if allowance is None else max(0, allowance - month["minutes_billed"])
    return web.json_response(
        {
            "month": {**month, "start": start.astimezone(ZoneInfo(user["timezone"])).isoformat()},
            "all_time": {**usage_json(totals, pricing, "all_"), "calls": totals["all_calls"]},
            "allowance": {"monthly_minutes": allowance, "minutes_left": left},
        }
    )
