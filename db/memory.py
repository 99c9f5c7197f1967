"""Queries on memory: facts per (user, persona), call summaries, relationship notes and the extraction outbox.

Every fact query is keyed by BOTH user and persona, so one user's memory is never reachable from another's
request. Jobs are claimed with FOR UPDATE SKIP LOCKED in one statement that also pushes `run_after` out by a
lease: a worker that dies mid-job leaves the job to be claimed again when the lease ends, and no lock is
held while the model thinks.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from personas.memory import Line, MergePlan
from personas.prompt import CallSummary, KnownFact, Relationship

SUMMARIES_IN_PROMPT = 3  # the last call's summary and two before it, if the memory budget has room

FACT_COLUMNS = "id, content, category, importance, source_call_id, created_at, updated_at, last_confirmed_at"


def prompt_columns(call_id: str, limit: int = 200) -> str:
    """Relationship, memory and earlier calls' summary columns for a context query with persona `p` and user
    `u`; `call_id` is the SQL expression of the call being prepared (excluded from "previous calls" and
    summaries), NULL before any call."""
    mine = "pc.user_id = u.id AND pc.persona_id = p.id AND pc.answered_at IS NOT NULL"
    return f"""coalesce((SELECT up.relationship_notes FROM user_personas up
                         WHERE up.user_id = u.id AND up.persona_id = p.id), '') AS relationship_notes,
               (SELECT count(*) FROM calls pc WHERE {mine} AND pc.id IS DISTINCT FROM {call_id})::int
                   AS previous_calls,
               (SELECT min(pc.answered_at) FROM calls pc WHERE {mine} AND pc.id IS DISTINCT FROM {call_id})
                   AS first_call_at,
               coalesce((SELECT jsonb_agg(jsonb_build_object('id', f.id, 'content', f.content,
                                          'category', f.category, 'importance', f.importance,
                                          'updated_at', f.updated_at))
                         FROM (SELECT * FROM memory_facts mf WHERE mf.user_id = u.id AND mf.persona_id = p.id
                               ORDER BY mf.importance DESC, mf.updated_at DESC LIMIT {int(limit)}) f),
                        '[]'::jsonb) AS memory_facts,
               coalesce((SELECT jsonb_agg(jsonb_build_object('summary', s.summary, 'call_at', s.call_at)
                                          ORDER BY s.call_at DESC)
                         FROM (SELECT cs.summary, coalesce(pc.answered_at, pc.requested_at) AS call_at
                               FROM call_summaries cs JOIN calls pc ON pc.id = cs.call_id
                               WHERE pc.user_id = u.id AND pc.persona_id = p.id
                                 AND pc.id IS DISTINCT FROM {call_id}
                               ORDER BY call_at DESC LIMIT {SUMMARIES_IN_PROMPT}) s),
                        '[]'::jsonb) AS call_summaries"""


def relationship(row: asyncpg.Record | dict[str, Any]) -> Relationship:
    return Relationship(row["previous_calls"] or 0, row["first_call_at"], row["relationship_notes"] or "")


def prompt_facts(row: asyncpg.Record | dict[str, Any]) -> list[KnownFact]:
    return [
        KnownFact(f["id"], f["content"], f["category"], f["importance"], datetime.fromisoformat(f["updated_at"]))
        for f in row["memory_facts"] or ()
    ]


def prompt_summaries(row: asyncpg.Record | dict[str, Any]) -> list[CallSummary]:
    return [CallSummary(s["summary"], datetime.fromisoformat(s["call_at"])) for s in row["call_summaries"] or ()]


async def list_facts(pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        f"""SELECT {FACT_COLUMNS} FROM memory_facts WHERE user_id = $1 AND persona_id = $2
            ORDER BY importance DESC, updated_at DESC, id DESC""",
        user_id,
        persona_id,
    )


async def known_facts(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID, persona_id: str) -> list[KnownFact]:
    rows = await conn.fetch(
        f"SELECT {FACT_COLUMNS} FROM memory_facts WHERE user_id = $1 AND persona_id = $2 ORDER BY id",
        user_id,
        persona_id,
    )
    return [KnownFact(r["id"], r["content"], r["category"], r["importance"], r["updated_at"]) for r in rows]


async def update_fact(
    pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str, fact_id: int, changes: dict[str, Any]
) -> asyncpg.Record | None:
    columns = [c for c in ("content", "category", "importance") if c in changes]
    assignments = "".join(f", {c} = ${i}" for i, c in enumerate(columns, start=4))
    return await pool.fetchrow(
        f"""UPDATE memory_facts SET updated_at = now(), last_confirmed_at = now(){assignments}
            WHERE id = $1 AND user_id = $2 AND persona_id = $3 RETURNING {FACT_COLUMNS}""",
        fact_id,
        user_id,
        persona_id,
        *(changes[c] for c in columns),
    )


async def delete_fact(pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str, fact_id: int) -> bool:
    result = await pool.execute(
        "DELETE FROM memory_facts WHERE id = $1 AND user_id = $2 AND persona_id = $3", fact_id, user_id, persona_id
    )
    return result.endswith(" 1")


async def forget(pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str) -> int:
    """Forget me: every fact, and pending extractions of this pair's calls (they would bring facts back)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """UPDATE memory_jobs j SET status = 'done', finished_at = now(), last_error = 'forgotten'
               FROM calls c WHERE c.id = j.call_id AND c.user_id = $1 AND c.persona_id = $2
                 AND j.status = 'pending'""",
            user_id,
            persona_id,
        )
        result = await conn.execute(
            "DELETE FROM memory_facts WHERE user_id = $1 AND persona_id = $2", user_id, persona_id
        )
    return int(result.split()[-1])


async def set_relationship_notes(pool: asyncpg.Pool, user_id: uuid.UUID, persona_id: str, notes: str) -> None:
    await pool.execute(
        """INSERT INTO user_personas (user_id, persona_id, relationship_notes) VALUES ($1, $2, $3)
           ON CONFLICT (user_id, persona_id) DO UPDATE SET relationship_notes = $3, updated_at = now()""",
        user_id,
        persona_id,
        notes,
    )


async def enqueue(pool: asyncpg.Pool, call_id: uuid.UUID, delay_s: float) -> None:
    """One job per call, whoever asks twice."""
    await pool.execute(
        """INSERT INTO memory_jobs (call_id, run_after) VALUES ($1, now() + make_interval(secs => $2))
           ON CONFLICT (call_id) DO NOTHING""",
        call_id,
        float(delay_s),
    )


async def enqueue_missed(pool: asyncpg.Pool, settle_s: float, lookback_s: float) -> int:
    """Jobs for ended calls that have a transcript but no job (the process serving them died mid-call)."""
    result = await pool.execute(
        """INSERT INTO memory_jobs (call_id)
           SELECT c.id FROM calls c
           WHERE c.ended_at < now() - make_interval(secs => $1)
             AND c.ended_at > now() - make_interval(secs => $2)
             AND c.user_id IS NOT NULL
             AND EXISTS (SELECT 1 FROM utterances t WHERE t.call_id = c.id AND t.role = 'caller')
             AND NOT EXISTS (SELECT 1 FROM memory_jobs j WHERE j.call_id = c.id)
           ON CONFLICT (call_id) DO NOTHING""",
        float(settle_s),
        float(lookback_s),
    )
    return int(result.split()[-1])


async def claim(pool: asyncpg.Pool, batch: int, lease_s: float) -> list[asyncpg.Record]:
    """Due jobs with what extraction needs; each is leased (run_after pushed out) in the same statement."""
    return await pool.fetch(
        """WITH due AS (
               SELECT call_id FROM memory_jobs WHERE status = 'pending' AND run_after <= now()
               ORDER BY run_after LIMIT $1 FOR UPDATE SKIP LOCKED),
           leased AS (
               UPDATE memory_jobs j SET attempts = j.attempts + 1, run_after = now() + make_interval(secs => $2)
               FROM due WHERE j.call_id = due.call_id RETURNING j.call_id, j.attempts)
           SELECT l.call_id, l.attempts, c.user_id, c.persona_id, coalesce(u.name, '') AS user_name,
                  coalesce(p.name, '') AS persona_name
           FROM leased l JOIN calls c ON c.id = l.call_id
           LEFT JOIN users u ON u.id = c.user_id LEFT JOIN personas p ON p.id = c.persona_id""",
        batch,
        float(lease_s),
    )


async def transcript(pool: asyncpg.Pool, call_id: uuid.UUID) -> list[Line]:
    """What was said: the caller's words, and of each persona turn what reached the caller's ear."""
    rows = await pool.fetch(
        """SELECT role, CASE WHEN role = 'persona' AND interrupted THEN coalesce(heard_text, text) ELSE text END
                  AS said
           FROM utterances WHERE call_id = $1 AND role IN ('caller', 'persona') ORDER BY seq""",
        call_id,
    )
    return [Line(r["role"], r["said"]) for r in rows if r["said"].strip()]


async def pair_lock(conn: asyncpg.Connection, user_id: uuid.UUID, persona_id: str) -> None:
    """Serialise merges per (user, persona), so two calls ending together cannot both pass the cap."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2, 11))", str(user_id), persona_id
    )


async def apply(
    conn: asyncpg.Connection,
    *,
    call_id: uuid.UUID,
    user_id: uuid.UUID,
    persona_id: str,
    plan: MergePlan,
    summary: str,
) -> None:
    """Write a merge and finish the job; call inside the transaction holding `pair_lock`."""
    if plan.deletes:
        await conn.execute(
            "DELETE FROM memory_facts WHERE user_id = $1 AND persona_id = $2 AND id = any($3::bigint[])",
            user_id,
            persona_id,
            plan.deletes,
        )
    if plan.updates:
        await conn.executemany(
            """UPDATE memory_facts SET content = $4, category = $5, importance = $6, source_call_id = $7,
                   updated_at = now(), last_confirmed_at = now()
               WHERE id = $1 AND user_id = $2 AND persona_id = $3""",
            [(i, user_id, persona_id, f.content, f.category, f.importance, call_id) for i, f in plan.updates.items()],
        )
    if plan.inserts:
        await conn.executemany(
            """INSERT INTO memory_facts (user_id, persona_id, content, category, importance, source_call_id)
               VALUES ($1, $2, $3, $4, $5, $6)""",
            [(user_id, persona_id, f.content, f.category, f.importance, call_id) for f in plan.inserts],
        )
    if summary:
        await conn.execute(
            """INSERT INTO call_summaries (call_id, summary) VALUES ($1, $2)
               ON CONFLICT (call_id) DO UPDATE SET summary = $2, created_at = now()""",
            call_id,
            summary,
        )
    await finish(conn, call_id, "done")


async def finish(
    conn: asyncpg.Connection | asyncpg.Pool, call_id: uuid.UUID, status: str, error: str | None = None
) -> None:
    await conn.execute(
        "UPDATE memory_jobs SET status = $2, finished_at = now(), last_error = $3 WHERE call_id = $1",
        call_id,
        status,
        error,
    )


async def retry_later(pool: asyncpg.Pool, call_id: uuid.UUID, error: str, backoff_s: float) -> None:
    await pool.execute(
        """UPDATE memory_jobs SET run_after = now() + make_interval(secs => $3), last_error = $2
           WHERE call_id = $1 AND status = 'pending'""",
        call_id,
        error[:500],
        float(backoff_s),
    )


async def jobs(pool: asyncpg.Pool, call_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await pool.fetch(
        """SELECT call_id, status, attempts, run_after, last_error, finished_at FROM memory_jobs
           WHERE call_id = any($1::uuid[])""",
        list(call_ids),
    )


async def still_pending(conn: asyncpg.Connection, call_id: uuid.UUID) -> bool:
    """Lock the job and say whether it is still to be done (a "forget me" may have closed it)."""
    status = await conn.fetchval("SELECT status FROM memory_jobs WHERE call_id = $1 FOR UPDATE", call_id)
    return status == "pending"
