"""One-time tokens that bind a media stream to its call: stored hashed, bound to the CallSid, short-lived."""

from __future__ import annotations

import hashlib
import secrets
import uuid

import asyncpg


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(pool: asyncpg.Pool, call_id: uuid.UUID, call_sid: str, ttl_s: int) -> str:
    token = secrets.token_urlsafe(32)
    await pool.execute(
        """INSERT INTO stream_tokens (token_hash, call_id, call_sid, expires_at)
           VALUES ($1, $2, $3, now() + make_interval(secs => $4::int))""",
        _hash(token),
        call_id,
        call_sid,
        ttl_s,
    )
    return token


async def redeem(pool: asyncpg.Pool, token: str, call_id: uuid.UUID, call_sid: str) -> str | None:
    """Use the token once. Returns None when accepted, else why it was refused (for the log)."""
    token_hash = _hash(token)
    used = await pool.fetchval(
        """UPDATE stream_tokens SET used_at = now()
           WHERE token_hash = $1 AND call_id = $2 AND call_sid = $3 AND used_at IS NULL AND expires_at > now()
           RETURNING 1""",
        token_hash,
        call_id,
        call_sid,
    )
    if used:
        return None
    row = await pool.fetchrow(
        "SELECT call_id, call_sid, used_at, expires_at < now() AS expired FROM stream_tokens WHERE token_hash = $1",
        token_hash,
    )
    if row is None:
        return "unknown token"
    if row["call_id"] != call_id:
        return "token belongs to another call"
    if row["call_sid"] != call_sid:
        return "token is bound to another CallSid"
    if row["used_at"] is not None:
        return "token already used"
    return "token expired"


async def purge_expired(pool: asyncpg.Pool) -> int:
    result = await pool.execute("DELETE FROM stream_tokens WHERE expires_at < now() - interval '1 hour'")
    return int(result.split()[-1])
