"""Database rows to the API's JSON shapes (one place, so every endpoint returns the same shape)."""

from __future__ import annotations

from typing import Any

import asyncpg

from db.personas import EDITABLE_COLUMNS


def user_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "name": row["name"],
        "phone": row["phone"],
        "phone_verified_at": _time(row["phone_verified_at"]),
        "timezone": row["timezone"],
        "quiet_hours": _quiet_hours(row),
        "created_at": _time(row["created_at"]),
    }


def _quiet_hours(row: asyncpg.Record) -> dict[str, str] | None:
    start, end = row["quiet_hours_start"], row["quiet_hours_end"]
    if start is None or end is None:
        return None
    return {"start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}


def persona_json(row: asyncpg.Record) -> dict[str, Any]:
    persona = {column: row[column] for column in EDITABLE_COLUMNS}
    persona["temperature"] = round(float(row["temperature"]), 3)  # real -> a tidy number
    return {
        "id": row["id"],
        "builtin": row["owner_id"] is None,
        "favorite": row["favorite"],
        **persona,
        "created_at": _time(row["created_at"]),
        "updated_at": _time(row["updated_at"]),
    }


def call_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "persona_id": row["persona_id"],
        "direction": row["direction"],
        "from": row["from_number"],
        "to": row["to_number"],
        "status": row["status"],
        "context": row["context"],
        "requested_at": _time(row["requested_at"]),
        "answered_at": _time(row["answered_at"]),
        "ended_at": _time(row["ended_at"]),
        "duration_s": row["duration_s"],
        "end_reason": row["end_reason"],
        "answered_by": row["answered_by"],
        "error": row["error"],
        "time_limit_s": row["time_limit_s"],
    }


def call_event_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "status": row["status"],
        "sequence_number": row["sequence_number"],
        "at": _time(row["occurred_at"]),
    }


def utterance_json(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "seq": row["seq"],
        "role": row["role"],
        "text": row["text"],
        "heard_text": row["heard_text"],
        "interrupted": row["interrupted"],
        "started_at": _time(row["started_at"]),
        "ended_at": _time(row["ended_at"]),
        "latency_ms": row["latency"],
    }


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
