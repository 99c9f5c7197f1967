"""Fixed-window counters in PostgreSQL, so every server process sharing the database enforces one limit."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class Window:
    hits: int
    retry_after_s: int  # seconds until this window ends


_WINDOW_START = "to_timestamp(floor(extract(epoch FROM now()) / $2::int) * $2::int)"


async def hit(pool: asyncpg.Pool, bucket: str, window_s: int) -> Window:
    """Count one more hit in the current window and return the new total."""
    row = await pool.fetchrow(
        f"""INSERT INTO rate_limit_counters AS c (bucket, window_start, hits, expires_at)
            VALUES ($1, {_WINDOW_START}, 1, {_WINDOW_START} + make_interval(secs => $2::int))
            ON CONFLICT (bucket, window_start) DO UPDATE SET hits = c.hits + 1
            RETURNING hits, ceil(extract(epoch FROM c.expires_at - now()))::int AS retry_after_s""",
        bucket,
        window_s,
    )
    return Window(row["hits"], row["retry_after_s"])


async def peek(pool: asyncpg.Pool, bucket: str, window_s: int) -> Window:
    """The current window's count, without adding to it."""
    row = await pool.fetchrow(
        f"""SELECT hits, ceil(extract(epoch FROM expires_at - now()))::int AS retry_after_s
            FROM rate_limit_counters WHERE bucket = $1 AND window_start = {_WINDOW_START}""",
        bucket,
        window_s,
    )
    return Window(row["hits"], row["retry_after_s"]) if row else Window(0, 0)


async def reset(pool: asyncpg.Pool, bucket: str) -> None:
    await pool.execute("DELETE FROM rate_limit_counters WHERE bucket = $1", bucket)


async def purge_expired(pool: asyncpg.Pool) -> int:
    result = await pool.execute("DELETE FROM rate_limit_counters WHERE expires_at < now()")
    return int(result.split()[-1])
