"""Queries on schedules and their runs (one row per occurrence).

The executor's claims lock rows with FOR UPDATE SKIP LOCKED inside short transactions: concurrent server
processes each take different rows and never wait on one another. The UNIQUE (schedule_id, occurrence_at)
of schedule_runs is the final word on "exactly once": an occurrence whose row already exists is not placed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

SCHEDULE_COLUMNS = """s.id, s.user_id, s.persona_id, s.purpose, s.context, s.kind, s.run_at, s.local_time,
                      s.weekdays, s.timezone, s.max_retries, s.retry_interval_s, s.next_run_at, s.paused,
                      s.created_at, s.updated_at"""
RUN_COLUMNS = "id, schedule_id, occurrence_at, status, attempts, call_id, retry_at, error, claimed_at, updated_at"
# What placing a call needs, beside the run: who, which persona, why, and the user's quiet hours.
_CLAIM_COLUMNS = """s.id AS schedule_id, s.user_id, s.persona_id, s.purpose, s.context, s.kind, s.local_time,
                    s.weekdays, s.timezone, s.next_run_at, s.max_retries, s.retry_interval_s,
                    u.quiet_hours_start, u.quiet_hours_end"""


class TooManySchedules(Exception):
    """The user already has the most schedules allowed."""


async def create_schedule(pool: asyncpg.Pool, max_per_user: int, **fields: Any) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        # The user's row lock serialises creations, so two requests cannot both pass the limit.
        await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", fields["user_id"])
        count = await conn.fetchval("SELECT count(*) FROM schedules WHERE user_id = $1", fields["user_id"])
        if count >= max_per_user:
            raise TooManySchedules
        columns = list(fields)
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        return await conn.fetchrow(
            f"""INSERT INTO schedules AS s ({", ".join(columns)}) VALUES ({placeholders})
                RETURNING {SCHEDULE_COLUMNS}""",
            *fields.values(),
        )


async def list_schedules(pool: asyncpg.Pool, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules s WHERE s.user_id = $1 ORDER BY s.created_at, s.id", user_id
    )


async def get_schedule(pool: asyncpg.Pool, user_id: uuid.UUID, schedule_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules s WHERE s.id = $1 AND s.user_id = $2", schedule_id, user_id
    )


async def update_schedule(
    pool: asyncpg.Pool, user_id: uuid.UUID, schedule_id: uuid.UUID, fields: dict[str, Any]
) -> asyncpg.Record | None:
    assignments = ", ".join(f"{column} = ${i}" for i, column in enumerate(fields, start=3))
    return await pool.fetchrow(
        f"""UPDATE schedules s SET {assignments}, updated_at = now() WHERE s.id = $1 AND s.user_id = $2
            RETURNING {SCHEDULE_COLUMNS}""",
        schedule_id,
        user_id,
        *fields.values(),
    )


async def delete_schedule(pool: asyncpg.Pool, user_id: uuid.UUID, schedule_id: uuid.UUID) -> bool:
    deleted = await pool.fetchval(
        "DELETE FROM schedules WHERE id = $1 AND user_id = $2 RETURNING id", schedule_id, user_id
    )
    return deleted is not None


async def recent_runs(pool: asyncpg.Pool, schedule_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"SELECT {RUN_COLUMNS} FROM schedule_runs WHERE schedule_id = $1 ORDER BY occurrence_at DESC LIMIT $2",
        schedule_id,
        limit,
    )


async def recurring_for_user(conn: asyncpg.Connection, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {SCHEDULE_COLUMNS} FROM schedules s WHERE s.user_id = $1 AND s.kind = 'recurring' FOR UPDATE",
        user_id,
    )


async def move_timezone(
    conn: asyncpg.Connection, user_id: uuid.UUID, timezone: str, next_runs: Sequence[tuple[uuid.UUID, datetime | None]]
) -> None:
    """Every schedule of the user follows the new zone; recurring ones get their next run recomputed."""
    await conn.execute("UPDATE schedules SET timezone = $2, updated_at = now() WHERE user_id = $1", user_id, timezone)
    await conn.execute(
        """UPDATE schedules s SET next_run_at = v.next_run_at
           FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, next_run_at) WHERE s.id = v.id""",
        [schedule_id for schedule_id, _ in next_runs],
        [next_run for _, next_run in next_runs],
    )


# --- the executor ---


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Lock due schedules no other process holds; call inside the transaction that records their runs."""
    return await conn.fetch(
        f"""SELECT {_CLAIM_COLUMNS} FROM schedules s JOIN users u ON u.id = s.user_id
            WHERE s.next_run_at <= $1 AND NOT s.paused
            ORDER BY s.next_run_at LIMIT $2
            FOR UPDATE OF s SKIP LOCKED""",
        now,
        limit,
    )


async def record_occurrences(
    conn: asyncpg.Connection, now: datetime, runs: Sequence[tuple[uuid.UUID, datetime, str, int, str | None]]
) -> list[asyncpg.Record]:
    """Insert (schedule_id, occurrence_at, status, attempts, error) rows; returns only those that are new."""
    return await conn.fetch(
        f"""INSERT INTO schedule_runs (schedule_id, occurrence_at, status, attempts, error, claimed_at, updated_at)
            SELECT v.schedule_id, v.occurrence_at, v.status, v.attempts, v.error, $6::timestamptz, $6::timestamptz
            FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::int[], $5::text[])
                 AS v(schedule_id, occurrence_at, status, attempts, error)
            ON CONFLICT (schedule_id, occurrence_at) DO NOTHING
            RETURNING {RUN_COLUMNS}""",
        *(list(column) for column in zip(*runs, strict=True)),
        now,
    )


async def advance(conn: asyncpg.Connection, next_runs: Sequence[tuple[uuid.UUID, datetime | None]]) -> None:
    await conn.execute(
        """UPDATE schedules s SET next_run_at = v.next_run_at
           FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, next_run_at) WHERE s.id = v.id""",
        [schedule_id for schedule_id, _ in next_runs],
        [next_run for _, next_run in next_runs],
    )


async def claim_retries(conn: asyncpg.Connection, now: datetime, limit: int) -> list[asyncpg.Record]:
    """Lock runs whose retry is due; call inside the transaction that decides them."""
    return await conn.fetch(
        f"""SELECT r.id AS run_id, r.occurrence_at, r.retry_at, r.attempts, {_CLAIM_COLUMNS}
            FROM schedule_runs r JOIN schedules s ON s.id = r.schedule_id JOIN users u ON u.id = s.user_id
            WHERE r.status = 'retrying' AND r.retry_at <= $1
            ORDER BY r.retry_at LIMIT $2
            FOR UPDATE OF r SKIP LOCKED""",
        now,
        limit,
    )


async def decide_runs(
    conn: asyncpg.Connection, now: datetime, decisions: Sequence[tuple[int, str, int, str | None]]
) -> None:
    """Set (run_id, status, attempts, error) on claimed runs."""
    await conn.execute(
        """UPDATE schedule_runs r SET status = v.status, attempts = v.attempts, error = v.error,
                  settled = false, retry_at = NULL, claimed_at = $5, updated_at = $5
           FROM unnest($1::bigint[], $2::text[], $3::int[], $4::text[]) AS v(id, status, attempts, error)
           WHERE r.id = v.id""",
        *(list(column) for column in zip(*decisions, strict=True)),
        now,
    )


async def mark_placed(pool: asyncpg.Pool, run_id: int, call_id: uuid.UUID | None) -> None:
    await pool.execute(
        """UPDATE schedule_runs SET status = 'placed', call_id = $2, error = NULL, updated_at = now()
           WHERE id = $1 AND status = 'placing'""",
        run_id,
        call_id,
    )


async def mark_failed(pool: asyncpg.Pool, run_id: int, error: str) -> None:
    await pool.execute(
        """UPDATE schedule_runs SET status = 'failed', settled = true, error = $2, updated_at = now()
           WHERE id = $1 AND status = 'placing'""",
        run_id,
        error,
    )


async def mark_retrying(pool: asyncpg.Pool, run_id: int, retry_at: datetime, error: str) -> None:
    await pool.execute(
        """UPDATE schedule_runs SET status = 'retrying', retry_at = $2, error = $3, updated_at = now()
           WHERE id = $1 AND status = 'placing'""",
        run_id,
        retry_at,
        error,
    )


async def settle_ended_calls(pool: asyncpg.Pool, now: datetime) -> list[asyncpg.Record]:
    """Look at the outcome of calls that ended: busy or no answer -> a retry if the schedule's policy has
    one left, else failed; any other end leaves the run placed. Each run is settled once."""
    return await pool.fetch(
        """WITH ended AS (
               SELECT r.id, r.attempts, c.status AS call_status, c.error AS call_error, c.ended_at,
                      s.max_retries, s.retry_interval_s
               FROM schedule_runs r JOIN calls c ON c.id = r.call_id JOIN schedules s ON s.id = r.schedule_id
               WHERE r.status = 'placed' AND NOT r.settled AND c.ended_at IS NOT NULL
               FOR UPDATE OF r SKIP LOCKED
           ), decided AS (
               SELECT id, call_error, call_status, ended_at, retry_interval_s,
                      CASE WHEN call_status IN ('busy', 'no-answer') AND attempts <= max_retries THEN 'retrying'
                           WHEN call_status IN ('busy', 'no-answer', 'failed', 'canceled') THEN 'failed'
                           ELSE 'placed' END AS status
               FROM ended
           )
           UPDATE schedule_runs r SET
               settled = true,
               status = d.status,
               retry_at = CASE WHEN d.status = 'retrying'
                               THEN d.ended_at + make_interval(secs => d.retry_interval_s) END,
               error = CASE WHEN d.call_status = 'completed' THEN NULL
                            ELSE coalesce(d.call_error, 'the call ended ' || d.call_status) END,
               updated_at = $1
           FROM decided d WHERE r.id = d.id
           RETURNING r.id, r.status""",
        now,
    )


async def expire_placing(pool: asyncpg.Pool, now: datetime, timeout_s: int) -> int:
    """Runs a dead process left mid-placement: recorded as failed, never placed again (the call may have
    gone out; ringing twice is worse than a recorded failure)."""
    result = await pool.execute(
        """UPDATE schedule_runs SET status = 'failed', settled = true, updated_at = $1,
                  error = 'the server stopped while placing this call'
           WHERE status = 'placing' AND claimed_at < $1::timestamptz - make_interval(secs => $2::int)""",
        now,
        timeout_s,
    )
    return int(result.split()[-1])


async def release_claim(pool: asyncpg.Pool, run_id: int, now: datetime) -> None:
    """Hand back a run this process claimed but did not place (it is shutting down): any process places it."""
    await pool.execute(
        """UPDATE schedule_runs SET status = 'retrying', retry_at = $2, attempts = greatest(attempts - 1, 0),
                  error = NULL, updated_at = $2
           WHERE id = $1 AND status = 'placing'""",
        run_id,
        now,
    )
