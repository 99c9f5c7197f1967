"""Queries on token_blacklist: tokens revoked by logout, kept until they would have expired."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg


async def revoke(pool: asyncpg.Pool, jti: str, user_id: uuid.UUID, expires_at: datetime) -> None:
    await pool.execute(
        """INSERT INTO token_blacklist (jti, user_id, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (jti) DO NOTHING""",
        jti,
        user_id,
        expires_at,
    )


async def revoke_once(pool: asyncpg.Pool, jti: str, user_id: uuid.UUID, expires_at: datetime) -> bool:
    """Revoke; True only for the first caller (a single-use ticket's redemption)."""
    inserted = await pool.fetchval(
        """INSERT INTO token_blacklist (jti, user_id, expires_at) VALUES ($1, $2, $3)
           ON CONFLICT (jti) DO NOTHING RETURNING 1""",
        jti,
        user_id,
        expires_at,
    )
    return bool(inserted)


async def is_revoked(pool: asyncpg.Pool, jti: str) -> bool:
    return bool(await pool.fetchval("SELECT 1 FROM token_blacklist WHERE jti = $1", jti))


async def purge_expired(pool: asyncpg.Pool) -> int:
    result = await pool.execute("DELETE FROM token_blacklist WHERE expires_at < now()")
    return int(result.split()[-1])
