"""Queries on personas and on each user's relationship with them (favorites, notes).

A user sees the built-ins (owner NULL) and their own personas; deleted personas are hidden but kept,
so the calls that used them keep their history.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import asyncpg

# Columns a persona's owner may change (API field name == column name).
EDITABLE_COLUMNS = (
    "name",
    "tagline",
    "core_prompt",
    "greeting",
    "voice",
    "temperature",
    "reply_max_tokens",
    "max_call_minutes",
    "end_of_turn_silence_ms",
)
_SELECT = """SELECT p.id, p.owner_id, p.name, p.tagline, p.core_prompt, p.greeting, p.voice, p.temperature,
                    p.reply_max_tokens, p.max_call_minutes, p.end_of_turn_silence_ms, p.created_at,
                    p.updated_at, coalesce(up.favorite, false) AS favorite
             FROM personas p
             LEFT JOIN user_personas up ON up.persona_id = p.id AND up.user_id = $1
             WHERE p.deleted_at IS NULL AND (p.owner_id IS NULL OR p.owner_id = $1)"""


async def list_personas(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(f"{_SELECT} ORDER BY p.owner_id IS NOT NULL, p.name, p.id", user_id)


async def get_persona(pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str) -> asyncpg.Record | None:
    """The persona if this user may see it (a built-in or their own), else None."""
    return await pool.fetchrow(f"{_SELECT} AND p.id = $2", user_id, persona_id)


def _slug(name: str) -> str:
    base = "".join(c if c.isascii() and c.isalnum() else "-" for c in name.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part)[:40] or "persona"
    return f"{base}-{secrets.token_hex(3)}"


async def create_persona(pool: asyncpg.Pool, owner_id: uuid.UUID, fields: dict[str, Any]) -> asyncpg.Record:
    columns = [c for c in EDITABLE_COLUMNS if c in fields]
    for _ in range(5):  # a random suffix collides about once in 16 million names: retry a few times
        persona_id = _slug(fields["name"])
        placeholders = ", ".join(f"${i}" for i in range(3, len(columns) + 3))
        try:
            await pool.execute(
                f"""INSERT INTO personas (id, owner_id, {", ".join(columns)})
                    VALUES ($1, $2, {placeholders})""",
                persona_id,
                owner_id,
                *(fields[c] for c in columns),
            )
        except asyncpg.UniqueViolationError:
            continue
        return await get_persona(pool, owner_id, persona_id)
    raise RuntimeError("could not allocate a persona id")


async def update_persona(
    pool: asyncpg.Pool, owner_id: uuid.UUID, persona_id: str, changes: dict[str, Any]
) -> asyncpg.Record | None:
    columns = [c for c in EDITABLE_COLUMNS if c in changes]
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, start=3))
    updated = await pool.fetchval(
        f"""UPDATE personas SET {assignments}, updated_at = now()
            WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL RETURNING id""",
        persona_id,
        owner_id,
        *(changes[c] for c in columns),
    )
    return await get_persona(pool, owner_id, persona_id) if updated else None


async def delete_persona(pool: asyncpg.Pool, owner_id: uuid.UUID, persona_id: str) -> bool:
    result = await pool.execute(
        """UPDATE personas SET deleted_at = now()
           WHERE id = $1 AND owner_id = $2 AND deleted_at IS NULL""",
        persona_id,
        owner_id,
    )
    return result.endswith(" 1")


async def set_favorite(pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str, favorite: bool) -> None:
    await pool.execute(
        """INSERT INTO user_personas (user_id, persona_id, favorite) VALUES ($1, $2, $3)
           ON CONFLICT (user_id, persona_id) DO UPDATE SET favorite = $3, updated_at = now()""",
        user_id,
        persona_id,
        favorite,
    )
