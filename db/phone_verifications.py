"""Queries on phone verifications (SMS codes) and on claiming a verified number."""

from __future__ import annotations

import uuid

import asyncpg


class PhoneTaken(Exception):
    """Another account has already verified this number."""


async def verified_elsewhere(pool: asyncpg.Pool, user_id: uuid.UUID, phone: str) -> bool:
    return bool(
        await pool.fetchval(
            "SELECT 1 FROM users WHERE phone = $1 AND phone_verified_at IS NOT NULL AND id <> $2",
            phone,
            user_id,
        )
    )


async def seconds_since_last_send(pool: asyncpg.Pool, user_id: uuid.UUID, phone: str) -> float | None:
    return await pool.fetchval(
        """SELECT extract(epoch FROM now() - max(sent_at))::float8 FROM phone_verifications
           WHERE user_id = $1 AND phone = $2""",
        user_id,
        phone,
    )


async def create(pool: asyncpg.Pool, user_id: uuid.UUID, phone: str, code_hash: str, ttl_s: int) -> asyncpg.Record:
    """A new code replaces any pending one for this number."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE phone_verifications SET expires_at = least(expires_at, now())
               WHERE user_id = $1 AND phone = $2 AND verified_at IS NULL""",
            user_id,
            phone,
        )
        return await conn.fetchrow(
            """INSERT INTO phone_verifications (user_id, phone, code_hash, expires_at)
               VALUES ($1, $2, $3, now() + make_interval(secs => $4::int))
               RETURNING id, phone, expires_at""",
            user_id,
            phone,
            code_hash,
            ttl_s,
        )


async def delete(pool: asyncpg.Pool, verification_id: int) -> None:
    await pool.execute("DELETE FROM phone_verifications WHERE id = $1", verification_id)


async def latest_pending(pool: asyncpg.Pool, user_id: uuid.UUID, phone: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        """SELECT id, code_hash, attempts, expires_at < now() AS expired FROM phone_verifications
           WHERE user_id = $1 AND phone = $2 AND verified_at IS NULL ORDER BY sent_at DESC, id DESC LIMIT 1""",
        user_id,
        phone,
    )


async def count_attempt(pool: asyncpg.Pool, verification_id: int, max_attempts: int) -> int | None:
    """Spend one attempt; None when none are left. Atomic, so parallel guesses cannot exceed the limit."""
    return await pool.fetchval(
        """UPDATE phone_verifications SET attempts = attempts + 1
           WHERE id = $1 AND attempts < $2 RETURNING attempts""",
        verification_id,
        max_attempts,
    )


async def confirm(pool: asyncpg.Pool, verification_id: int, user_id: uuid.UUID, phone: str) -> asyncpg.Record:
    """Mark the code used and give the number to the user; PhoneTaken if someone verified it first."""
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("UPDATE phone_verifications SET verified_at = now() WHERE id = $1", verification_id)
            return await conn.fetchrow(
                """UPDATE users SET phone = $2, phone_verified_at = now(), updated_at = now() WHERE id = $1
                   RETURNING id, email, name, phone, phone_verified_at, timezone, quiet_hours_start,
                             quiet_hours_end, created_at""",
                user_id,
                phone,
            )
    except asyncpg.UniqueViolationError:
        raise PhoneTaken(phone) from None
