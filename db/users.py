"""Queries on users."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

USER_COLUMNS = "id, email, name, phone, phone_verified_at, timezone, quiet_hours_start, quiet_hours_end, created_at"


class EmailTaken(Exception):
    """Another account already uses this email (compared case-insensitively)."""


async def create_user(
    pool: asyncpg.Pool, *, email: str, password_hash: str, name: str, timezone: str
) -> asyncpg.Record:
    try:
        return await pool.fetchrow(
            f"""INSERT INTO users (email, password_hash, name, timezone) VALUES ($1, $2, $3, $4)
                RETURNING {USER_COLUMNS}""",
            email,
            password_hash,
            name,
            timezone,
        )
    except asyncpg.UniqueViolationError:
        raise EmailTaken(email) from None


async def get_user(pool: asyncpg.Pool, user_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {USER_COLUMNS} FROM users WHERE id = $1", user_id)


async def get_login(pool: asyncpg.Pool, email: str) -> asyncpg.Record | None:
    """The user and password hash for an email, whatever its case."""
    return await pool.fetchrow(f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE lower(email) = lower($1)", email)


async def by_verified_phone(pool: asyncpg.Pool, phone: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {USER_COLUMNS} FROM users WHERE phone = $1 AND phone_verified_at IS NOT NULL", phone
    )


async def favorite_persona(pool: asyncpg.Pool, user_id: uuid.UUID) -> str | None:
    """The persona the user most recently marked as a favorite (still existing)."""
    return await pool.fetchval(
        """SELECT up.persona_id FROM user_personas up JOIN personas p ON p.id = up.persona_id
           WHERE up.user_id = $1 AND up.favorite AND p.deleted_at IS NULL
           ORDER BY up.updated_at DESC LIMIT 1""",
        user_id,
    )


async def update_profile(conn: asyncpg.Connection, user_id: uuid.UUID, fields: dict[str, Any]) -> asyncpg.Record:
    """Set the given columns (name, timezone, quiet_hours_start/end) and return the user."""
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(fields, start=2))
    return await conn.fetchrow(
        f"UPDATE users SET {assignments}, updated_at = now() WHERE id = $1 RETURNING {USER_COLUMNS}",
        user_id,
        *fields.values(),
    )
