"""Queries on what calls used: minutes billed, speech-to-text seconds, model tokens, synthesized characters.

A call's minutes are its provider duration rounded up to whole minutes (how carriers bill); a call that was
never answered, or is still live, counts 0 until its end is recorded.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

MINUTES_BILLED = "ceil(coalesce(duration_s, extract(epoch FROM ended_at - answered_at), 0) / 60.0)::int"
USAGE_COLUMNS = f"{MINUTES_BILLED} AS minutes_billed, stt_seconds, llm_tokens_in, llm_tokens_out, tts_chars"


async def minutes_since(conn: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID, since: datetime) -> int:
    return await conn.fetchval(
        f"SELECT coalesce(sum({MINUTES_BILLED}), 0)::int FROM calls WHERE user_id = $1 AND requested_at >= $2",
        user_id,
        since,
    )


async def call_usage(pool: asyncpg.Pool, call_id: uuid.UUID) -> asyncpg.Record | None:
    return await pool.fetchrow(f"SELECT {USAGE_COLUMNS} FROM calls WHERE id = $1", call_id)


async def user_totals(pool: asyncpg.Pool, user_id: uuid.UUID, month_start: datetime) -> asyncpg.Record:
    """Totals since `month_start` (month_*) and over all time (all_*)."""
    return await pool.fetchrow(
        f"""SELECT {_totals("month", "FILTER (WHERE requested_at >= $2)")}, {_totals("all", "")}
            FROM calls WHERE user_id = $1""",
        user_id,
        month_start,
    )


def _totals(prefix: str, only: str) -> str:
    sums = [f"coalesce(sum({column}) {only}, 0) AS {prefix}_{name}" for column, name in _SUMS]
    return ", ".join([f"count(*) {only} AS {prefix}_calls", *sums])


_SUMS = (
    (MINUTES_BILLED, "minutes_billed"),
    ("stt_seconds", "stt_seconds"),
    ("llm_tokens_in", "llm_tokens_in"),
    ("llm_tokens_out", "llm_tokens_out"),
    ("tts_chars", "tts_chars"),
)
