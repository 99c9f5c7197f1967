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
        "created_at": _time(row["created_at"]),
    }


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


def _time(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
