"""Queries on calls and their status timeline.

Provider status callbacks arrive out of order and more than once: every callback is stored once (keyed by
its SequenceNumber) and the call's status only ever moves forward.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from db import memory

TERMINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")
_RANK = {"requested": 0, "queued": 1, "initiated": 2, "ringing": 3, "in-progress": 4}
_RANK.update(dict.fromkeys(TERMINAL_STATUSES, 5))
CALL_COLUMNS = """id, user_id, persona_id, direction, from_number, to_number, status, provider_call_id, context,
                  requested_at, answered_at, ended_at, duration_s, end_reason, answered_by, error, time_limit_s"""


def is_known_status(status: str) -> bool:
    return status in _RANK


@dataclass(frozen=True)
class Guard:
    """What the placement guards look at for one user."""

    live_calls: int
    recent_calls: int
    calls_today: int


async def guard_counts(conn: asyncpg.Connection, user_id: uuid.UUID, window_s: int) -> Guard:
    """Count what the guards look at; call inside the transaction that inserts the call."""
    # Serialise call placement per user across every server process, so two requests cannot both pass
    # the "one live call" check.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))", str(user_id))
    row = await conn.fetchrow(
        # A call whose end was never reported stops counting as live after a few hours.
        """SELECT count(*) FILTER (WHERE ended_at IS NULL AND requested_at > now() - interval '3 hours') AS live,
                  count(*) FILTER (WHERE requested_at > now() - make_interval(secs => $2::int)) AS recent,
                  count(*) AS today
           FROM calls WHERE user_id = $1 AND requested_at > now() - interval '1 day'""",
        user_id,
        window_s,
    )
    return Guard(row["live"], row["recent"], row["today"])


async def insert_call(conn: asyncpg.Connection | asyncpg.Pool, **fields: Any) -> asyncpg.Record:
    columns = list(fields)
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return await conn.fetchrow(
        f"INSERT INTO calls ({', '.join(columns)}) VALUES ({placeholders}) RETURNING {CALL_COLUMNS}",
        *fields.values(),
    )


async def set_provider_call(pool: asyncpg.Pool, call_id: uuid.UUID, call_sid: str, status: str) -> None:
    """Record the provider's id; a status callback may already have moved the call further."""
    await pool.execute(
        """UPDATE calls SET provider_call_id = coalesce(provider_call_id, $2),
                            status = CASE WHEN status = 'requested' THEN $3 ELSE status END
           WHERE id = $1""",
        call_id,
        call_sid,
        status if status in _RANK and _RANK[status] < 5 else "queued",
    )


async def fail_call(pool: asyncpg.Pool, call_id: uuid.UUID, error: str) -> None:
    await pool.execute(
        """UPDATE calls SET status = 'failed', end_reason = 'failed', error = $2, ended_at = now()
           WHERE id = $1 AND ended_at IS NULL""",
        call_id,
        error,
    )


async def expire_unopened_browser_calls(conn: asyncpg.Connection, user_id: uuid.UUID, ticket_ttl_s: int) -> None:
    """Cancel this user's browser calls whose websocket was never opened and whose ticket has expired."""
    await conn.execute(
        """UPDATE calls SET status = 'canceled', end_reason = 'canceled', ended_at = now(),
                            error = 'the browser never connected'
           WHERE user_id = $1 AND direction = 'browser' AND status = 'requested' AND ended_at IS NULL
             AND requested_at < now() - make_interval(secs => $2::int)""",
        user_id,
        ticket_ttl_s,
    )


async def browser_call_status(pool: asyncpg.Pool, call_id: uuid.UUID, status: str) -> None:
    """A browser call has no provider reporting its status: the server records in-progress and completed
    itself, in the same timeline (call_events) a phone call's callbacks fill."""
    terminal = status in TERMINAL_STATUSES
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO call_events (call_id, status, payload) VALUES ($1, $2, $3)", call_id, status, {}
        )
        await conn.execute(
            """UPDATE calls SET status = $2,
                   answered_at = CASE WHEN $2 = 'in-progress' THEN now() ELSE answered_at END,
                   ended_at = CASE WHEN $3 THEN now() ELSE ended_at END,
                   end_reason = CASE WHEN $3 THEN $2 ELSE end_reason END,
                   duration_s = CASE WHEN $3 THEN round(extract(epoch FROM now() - answered_at))::int
                                ELSE duration_s END
               WHERE id = $1 AND ended_at IS NULL""",
            call_id,
            status,
            terminal,
        )


async def persona_name_by_provider_call(pool: asyncpg.Pool, call_sid: str) -> str | None:
    """Who is calling, for a ringing softphone (None if the call is not ours, or not yet bound)."""
    return await pool.fetchval(
        "SELECT p.name FROM calls c JOIN personas p ON p.id = c.persona_id WHERE c.provider_call_id = $1",
        call_sid,
    )


async def bind_provider_call(pool: asyncpg.Pool, call_id: uuid.UUID, call_sid: str) -> asyncpg.Record | None:
    """The call, if its provider id is this CallSid or not yet known (then it is bound now)."""
    return await pool.fetchrow(
        f"""UPDATE calls SET provider_call_id = coalesce(provider_call_id, $2)
            WHERE id = $1 AND (provider_call_id IS NULL OR provider_call_id = $2)
            RETURNING {CALL_COLUMNS}""",
        call_id,
        call_sid,
    )


@dataclass(frozen=True)
class StatusUpdate:
    call_sid: str
    status: str
    sequence_number: int | None
    occurred_at: datetime | None
    duration_s: int | None
    answered_by: str | None
    payload: dict[str, str]


async def record_status(pool: asyncpg.Pool, call_id: uuid.UUID | None, update: StatusUpdate) -> str:
    """Store one status callback and move the call forward if it is news. Returns what happened:
    'unknown-call', 'duplicate', 'applied' or 'stale' (stored, but the call was already further on)."""
    try:
        return await _record_status(pool, call_id, update)
    except asyncpg.UniqueViolationError:  # the CallSid already belongs to another of our calls
        return "unknown-call"


async def _record_status(pool: asyncpg.Pool, call_id: uuid.UUID | None, update: StatusUpdate) -> str:
    async with pool.acquire() as conn, conn.transaction():
        if call_id is not None:
            call = await conn.fetchrow(
                """SELECT id, status, provider_call_id FROM calls
                   WHERE id = $1 AND (provider_call_id IS NULL OR provider_call_id = $2) FOR UPDATE""",
                call_id,
                update.call_sid,
            )
        else:
            call = await conn.fetchrow(
                "SELECT id, status, provider_call_id FROM calls WHERE provider_call_id = $1 FOR UPDATE",
                update.call_sid,
            )
        if call is None:
            return "unknown-call"
        inserted = await conn.fetchval(
            """INSERT INTO call_events (call_id, status, sequence_number, payload, occurred_at)
               VALUES ($1, $2, $3, $4, coalesce($5, now()))
               ON CONFLICT (call_id, sequence_number) WHERE sequence_number IS NOT NULL DO NOTHING
               RETURNING id""",
            call["id"],
            update.status,
            update.sequence_number,
            update.payload,
            update.occurred_at,
        )
        if inserted is None:
            return "duplicate"
        at = update.occurred_at
        if update.status == "in-progress":
            await conn.execute(
                "UPDATE calls SET answered_at = coalesce(answered_at, coalesce($2, now())) WHERE id = $1",
                call["id"],
                at,
            )
        if _RANK[update.status] <= _RANK[call["status"]]:
            return "stale"
        terminal = update.status in TERMINAL_STATUSES
        await conn.execute(
            """UPDATE calls SET status = $2,
                   provider_call_id = coalesce(provider_call_id, $3),
                   ended_at = CASE WHEN $4 THEN coalesce($5, now()) ELSE ended_at END,
                   end_reason = CASE WHEN $4 THEN $2 ELSE end_reason END,
                   duration_s = CASE WHEN $4 THEN coalesce($6, duration_s) ELSE duration_s END,
                   answered_by = coalesce($7, answered_by)
               WHERE id = $1""",
            call["id"],
            update.status,
            update.call_sid,
            terminal,
            at,
            update.duration_s,
            update.answered_by,
        )
        return "applied"


async def list_calls(
    pool: asyncpg.Pool, user_id: uuid.UUID, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[asyncpg.Record]:
    """Newest first, keyset-paginated on (requested_at, id) so pages never skip or repeat."""
    if before is None:
        return await pool.fetch(
            f"""SELECT {CALL_COLUMNS} FROM calls WHERE user_id = $1
                ORDER BY requested_at DESC, id DESC LIMIT $2""",
            user_id,
            limit,
        )
    return await pool.fetch(
        f"""SELECT {CALL_COLUMNS} FROM calls WHERE user_id = $1 AND (requested_at, id) < ($3, $4)
            ORDER BY requested_at DESC, id DESC LIMIT $2""",
        user_id,
        limit,
        *before,
    )


async def get_call(pool: asyncpg.Pool, user_id: uuid.UUID, call_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {CALL_COLUMNS} FROM calls WHERE id = $1 AND user_id = $2", call_id, user_id)


async def call_events(pool: asyncpg.Pool, call_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT status, sequence_number, occurred_at FROM call_events WHERE call_id = $1
           ORDER BY occurred_at, coalesce(sequence_number, 0), id""",
        call_id,
    )


async def utterances(pool: asyncpg.Pool, call_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT seq, role, text, heard_text, interrupted, started_at, ended_at, latency
           FROM utterances WHERE call_id = $1 ORDER BY seq""",
        call_id,
    )


_PERSONA_USER_COLUMNS = """p.id AS persona_id, p.name AS persona_name, p.core_prompt, p.greeting, p.voice,
                            p.temperature, p.reply_max_tokens, p.max_call_minutes, p.end_of_turn_silence_ms,
                            u.id AS user_id, u.name AS user_name, u.timezone"""


async def call_context(pool: asyncpg.Pool, call_id: uuid.UUID) -> asyncpg.Record | None:
    """Everything a live call needs to know about itself, its persona, its user and their history."""
    return await pool.fetchrow(
        f"""SELECT c.id, c.direction, c.context, c.time_limit_s, c.requested_at, {_PERSONA_USER_COLUMNS},
                   {memory.prompt_columns("c.id")}
            FROM calls c JOIN personas p ON p.id = c.persona_id LEFT JOIN users u ON u.id = c.user_id
            WHERE c.id = $1""",
        call_id,
    )


async def draft_context(
    pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str, context: str, direction: str
) -> asyncpg.Record | None:
    """What `call_context` would return for this user's next call with this persona (the designer's view)."""
    return await pool.fetchrow(
        f"""SELECT NULL::uuid AS id, $3::text AS direction, $4::text AS context, NULL::int AS time_limit_s,
                   now() AS requested_at, {_PERSONA_USER_COLUMNS}, {memory.prompt_columns("NULL::uuid")}
            FROM personas p, users u
            WHERE u.id = $1 AND p.id = $2 AND p.deleted_at IS NULL AND (p.owner_id IS NULL OR p.owner_id = $1)""",
        user_id,
        persona_id,
        direction,
        context,
    )
