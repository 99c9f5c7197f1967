"""Scheduled and recurring callbacks: create, list, read (with recent runs), change, pause/resume, delete.

Times are given and shown in the user's IANA zone (their `timezone`, which schedules follow when it
changes); next_run_at and the upcoming occurrences carry that zone's offset, so a 07:00 wake-up reads
07:00 on both sides of a DST change.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web

from db import personas, schedules
from orchestrator.api import ERROR_SCHEMA, ApiRequest, ApiRoutes
from orchestrator.errors import ApiError, not_found
from orchestrator.keys import POOL, SETTINGS
from orchestrator.schedule_times import DAILY, DAY_NAMES, WEEKDAYS, local_instant
from orchestrator.schedules import PURPOSES, next_run, upcoming
from orchestrator.schemas import NULLABLE_TIMESTAMP, PERSONA_ID, TIMESTAMP

routes = ApiRoutes()

_UUID = {
    "type": "string",
    "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}
_SCHEDULE_ID = {"schedule_id": _UUID}
LOCAL_TIME: dict[str, Any] = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
# A one-off time: wall-clock time in the user's zone ("2026-03-08T07:30"), or an instant with an offset.
_AT = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})?$",
    "description": "local time in the user's zone, or an instant with an offset",
}
_RECURRENCE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["repeat", "time"],
    "properties": {
        "repeat": {"type": "string", "enum": ["daily", "weekdays", "days"]},
        "time": LOCAL_TIME,
        "days": {
            "type": "array",
            "items": {"type": "string", "enum": list(DAY_NAMES)},
            "minItems": 1,
            "maxItems": 7,
            "uniqueItems": True,
        },
    },
}
_RETRIES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max": {"type": "integer", "minimum": 0, "maximum": 5},
        "interval_s": {"type": "integer", "minimum": 60, "maximum": 3600},
    },
}
_FIELDS: dict[str, Any] = {
    "persona_id": PERSONA_ID,
    "purpose": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "pattern": r"\S",
        "description": "one of " + ", ".join(PURPOSES) + ", or free text; it becomes the call's context",
    },
    "context": {"type": "string", "maxLength": 1000},
    "at": _AT,
    "recurrence": _RECURRENCE,
    "retries": _RETRIES,
}
CREATE_BODY = {
    "type": "object",
    "additionalProperties": False,
    "required": ["persona_id", "purpose"],
    "properties": _FIELDS,
}
UPDATE_BODY = {
    "type": "object",
    "additionalProperties": False,
    "minProperties": 1,
    "properties": {**_FIELDS, "paused": {"type": "boolean"}},
}
_RUN = {
    "type": "object",
    "properties": {
        "occurrence_at": TIMESTAMP,
        "status": {
            "type": "string",
            "enum": ["placing", "placed", "retrying", "failed", "missed", "skipped-quiet-hours"],
        },
        "attempts": {"type": "integer"},
        "call_id": {"type": ["string", "null"]},
        "retry_at": NULLABLE_TIMESTAMP,
        "error": {"type": ["string", "null"]},
    },
}
SCHEDULE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "persona_id", "purpose", "kind", "timezone", "status", "next_run_at", "upcoming"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "persona_id": {"type": "string"},
        "purpose": {"type": "string"},
        "context": {"type": "string"},
        "kind": {"type": "string", "enum": ["once", "recurring"]},
        "at": NULLABLE_TIMESTAMP,
        "recurrence": {"type": ["object", "null"]},
        "timezone": {"type": "string"},
        "retries": {"type": "object"},
        "paused": {"type": "boolean"},
        "status": {"type": "string", "enum": ["active", "paused", "done"]},
        "next_run_at": NULLABLE_TIMESTAMP,
        "upcoming": {"type": "array", "items": TIMESTAMP},
        "runs": {"type": "array", "items": _RUN},
        "created_at": TIMESTAMP,
        "updated_at": TIMESTAMP,
    },
}
_LIST = {"type": "object", "properties": {"schedules": {"type": "array", "items": SCHEDULE}}}


@routes.route(
    "POST",
    "/api/schedules",
    summary="Schedule a callback: once, or daily / on weekdays / on chosen days at a local time",
    tag="schedules",
    body=CREATE_BODY,
    responses={
        201: ("Scheduled", SCHEDULE),
        404: ("No such persona (persona_id)", ERROR_SCHEMA),
        409: ("Too many schedules", ERROR_SCHEMA),
    },
)
async def create_schedule(req: ApiRequest) -> web.Response:
    settings, pool, user = req.app[SETTINGS].schedules, req.app[POOL], req.user
    await _check_persona(req, req.body["persona_id"])
    retries = req.body.get("retries", {})
    fields: dict[str, Any] = {
        "user_id": user["id"],
        "persona_id": req.body["persona_id"],
        "purpose": req.body["purpose"].strip(),
        "context": req.body.get("context", "").strip(),
        "timezone": user["timezone"],
        "max_retries": retries.get("max", settings.max_retries),
        "retry_interval_s": retries.get("interval_s", settings.retry_interval_s),
        **_timing(req.body, user["timezone"]),
    }
    fields["next_run_at"] = _first_run(fields)
    try:
        row = await schedules.create_schedule(pool, settings.max_per_user, **fields)
    except schedules.TooManySchedules:
        raise ApiError(409, "too_many_schedules", f"at most {settings.max_per_user} schedules per user") from None
    return web.json_response(schedule_json(row, settings.upcoming), status=201)


@routes.route(
    "GET", "/api/schedules", summary="My schedules", tag="schedules", responses={200: ("My schedules", _LIST)}
)
async def list_schedules(req: ApiRequest) -> web.Response:
    count = req.app[SETTINGS].schedules.upcoming
    rows = await schedules.list_schedules(req.app[POOL], req.user["id"])
    return web.json_response({"schedules": [schedule_json(row, count) for row in rows]})


@routes.route(
    "GET",
    "/api/schedules/{schedule_id}",
    summary="One schedule, with its most recent runs",
    tag="schedules",
    path_params=_SCHEDULE_ID,
    responses={200: ("The schedule", SCHEDULE)},
)
async def get_schedule(req: ApiRequest) -> web.Response:
    row = await _mine(req)
    runs = await schedules.recent_runs(req.app[POOL], row["id"], 20)
    body = schedule_json(row, req.app[SETTINGS].schedules.upcoming)
    body["runs"] = [_run_json(run, row["timezone"]) for run in runs]
    return web.json_response(body)


@routes.route(
    "PATCH",
    "/api/schedules/{schedule_id}",
    summary="Change a schedule, or pause / resume it",
    tag="schedules",
    path_params=_SCHEDULE_ID,
    body=UPDATE_BODY,
    responses={200: ("The schedule", SCHEDULE), 409: ("A one-off whose time has passed", ERROR_SCHEMA)},
)
async def update_schedule(req: ApiRequest) -> web.Response:
    row, body = await _mine(req), req.body
    changes: dict[str, Any] = {}
    if "persona_id" in body:
        await _check_persona(req, body["persona_id"])
        changes["persona_id"] = body["persona_id"]
    for name in ("purpose", "context"):
        if name in body:
            changes[name] = body[name].strip()
    if "retries" in body:
        changes.update(
            {
                "max_retries": body["retries"].get("max", row["max_retries"]),
                "retry_interval_s": body["retries"].get("interval_s", row["retry_interval_s"]),
            }
        )
    retimed = "at" in body or "recurrence" in body
    if retimed:
        changes.update(_timing(body, row["timezone"]))
    if "paused" in body:
        changes["paused"] = body["paused"]
    merged = {**dict(row), **changes}
    if merged["paused"]:
        changes["next_run_at"] = None
    elif retimed or row["paused"]:
        changes["next_run_at"] = _first_run(merged)
    updated = await schedules.update_schedule(req.app[POOL], req.user["id"], row["id"], changes)
    if updated is None:
        raise not_found("schedule")
    return web.json_response(schedule_json(updated, req.app[SETTINGS].schedules.upcoming))


@routes.route(
    "DELETE",
    "/api/schedules/{schedule_id}",
    summary="Delete a schedule and its run history",
    tag="schedules",
    path_params=_SCHEDULE_ID,
    responses={204: ("Deleted", None)},
)
async def delete_schedule(req: ApiRequest) -> web.Response:
    if not await schedules.delete_schedule(req.app[POOL], req.user["id"], uuid.UUID(req.path("schedule_id"))):
        raise not_found("schedule")
    return web.Response(status=204)


async def _mine(req: ApiRequest) -> asyncpg.Record:
    row = await schedules.get_schedule(req.app[POOL], req.user["id"], uuid.UUID(req.path("schedule_id")))
    if row is None:
        raise not_found("schedule")
    return row


async def _check_persona(req: ApiRequest, persona_id: str) -> None:
    if await personas.get_persona(req.app[POOL], req.user["id"], persona_id) is None:
        raise ApiError(404, "not_found", "persona not found", field="persona_id")


def _timing(body: dict[str, Any], timezone: str) -> dict[str, Any]:
    """Exactly one of `at` and `recurrence`, as columns."""
    if ("at" in body) == ("recurrence" in body):
        raise ApiError(400, "invalid_field", "give either at (once) or recurrence, not both or neither", field="at")
    if "at" in body:
        try:
            instant = local_instant(datetime.fromisoformat(body["at"]), timezone)
        except ValueError:
            raise ApiError(400, "invalid_field", "at is not a valid date and time", field="at") from None
        if instant <= datetime.now(UTC):
            raise ApiError(400, "invalid_field", "at must be in the future", field="at")
        return {"kind": "once", "run_at": instant, "local_time": None, "weekdays": None}
    rule = body["recurrence"]
    if (rule["repeat"] == "days") != ("days" in rule):
        message = 'recurrence.days is required with repeat "days", and only then'
        raise ApiError(400, "invalid_field", message, field="recurrence.days")
    days = {"daily": DAILY, "weekdays": WEEKDAYS}.get(rule["repeat"])
    if days is None:
        days = frozenset(DAY_NAMES.index(name) + 1 for name in rule["days"])
    hour, minute = map(int, rule["time"].split(":"))
    return {"kind": "recurring", "run_at": None, "local_time": time(hour, minute), "weekdays": sorted(days)}


def _first_run(fields: dict[str, Any]) -> datetime:
    first = next_run(fields, datetime.now(UTC))
    if first is None:
        raise ApiError(409, "schedule_expired", "this one-off time has passed; give a new at", field="at")
    return first


def schedule_json(row: asyncpg.Record | dict[str, Any], upcoming_count: int) -> dict[str, Any]:
    zone = ZoneInfo(row["timezone"])
    recurrence = None
    if row["kind"] == "recurring":
        days = frozenset(row["weekdays"])
        repeat = "daily" if days == DAILY else "weekdays" if days == WEEKDAYS else "days"
        recurrence = {
            "repeat": repeat,
            "time": row["local_time"].strftime("%H:%M"),
            "days": [DAY_NAMES[day - 1] for day in sorted(days)],
        }
    status = "paused" if row["paused"] else "active" if row["next_run_at"] is not None else "done"
    return {
        "id": str(row["id"]),
        "persona_id": row["persona_id"],
        "purpose": row["purpose"],
        "context": row["context"],
        "kind": row["kind"],
        "at": _local(row["run_at"], zone),
        "recurrence": recurrence,
        "timezone": row["timezone"],
        "retries": {"max": row["max_retries"], "interval_s": row["retry_interval_s"]},
        "paused": row["paused"],
        "status": status,
        "next_run_at": _local(row["next_run_at"], zone),
        "upcoming": [_local(at, zone) for at in upcoming(row, upcoming_count)],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _run_json(run: asyncpg.Record, timezone: str) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    return {
        "occurrence_at": _local(run["occurrence_at"], zone),
        "status": run["status"],
        "attempts": run["attempts"],
        "call_id": str(run["call_id"]) if run["call_id"] is not None else None,
        "retry_at": _local(run["retry_at"], zone),
        "error": run["error"],
    }


def _local(instant: datetime | None, zone: ZoneInfo) -> str | None:
    return instant.astimezone(zone).isoformat() if instant is not None else None
