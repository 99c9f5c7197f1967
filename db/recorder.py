"""The call recorder: rows from live calls are buffered and written in batches by one task.

A call never awaits the database: `add()` appends to a buffer and returns. The writer task inserts in
order with `executemany`; when PostgreSQL is slow or down it keeps the rows and retries, so audio is
never stalled and no accepted row is lost. Inserts are idempotent (keyed by call and sequence number),
so a retry after a lost acknowledgement never doubles a row.

The buffer is bounded (`max_rows`): an outage longer than the buffer can hold drops the newest rows
with an error log rather than growing memory until the process dies and loses all of them.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

_BATCH = 200
_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class UtteranceRow:
    call_id: uuid.UUID
    seq: int
    role: str
    text: str
    heard_text: str | None
    interrupted: bool
    started_at: datetime
    ended_at: datetime | None
    latency: dict[str, Any]


@dataclass(frozen=True)
class CallFieldsRow:
    """Latest values of a call's live fields (idempotent: each row carries the whole value)."""

    call_id: uuid.UUID
    fields: dict[str, Any]

    def __post_init__(self) -> None:
        unknown = set(self.fields) - set(_CALL_FIELDS)
        if unknown:
            raise ValueError(f"not live call fields: {sorted(unknown)}")


Row = UtteranceRow | CallFieldsRow
_CALL_FIELDS = ("dtmf", "stream_sid", "stt_seconds", "llm_tokens_in", "llm_tokens_out", "tts_chars")


class Recorder:
    def __init__(self, pool: asyncpg.Pool, max_rows: int = 100_000) -> None:
        self._pool = pool
        self._max_rows = max_rows
        self._rows: deque[Row] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._attempt = 0  # consecutive failed writes
        self.failures = 0
        self.dropped = 0
        self.written = 0

    @property
    def pending(self) -> int:
        return len(self._rows)

    def add(self, row: Row) -> None:
        if len(self._rows) >= self._max_rows:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.error("recorder: buffer full (%d rows); %d rows dropped so far", self._max_rows, self.dropped)
            return
        self._rows.append(row)
        self._idle.clear()
        self._wake.set()

    async def flush(self) -> None:
        """Wait until every row added so far is written."""
        await self._idle.wait()

    async def run(self) -> None:
        """Write forever (cancel to stop; call `flush()` first to drain)."""
        while True:
            if not self._rows:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = [self._rows[i] for i in range(min(_BATCH, len(self._rows)))]
            try:
                await self._write(batch)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self.failures += 1
                delay = _RETRY_S[min(self._attempt, len(_RETRY_S) - 1)]
                self._attempt += 1
                log.warning(
                    "recorder: write failed (%s); %d rows kept, retry in %.1fs",
                    type(exc).__name__,
                    len(self._rows),
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            if self._attempt:
                log.info(
                    "recorder: writing again after %d failed attempts; %d rows pending", self._attempt, len(self._rows)
                )
            self._attempt = 0
            self.written += len(batch)
            for _ in batch:
                self._rows.popleft()

    async def _write(self, batch: list[Row]) -> None:
        utterances = [row for row in batch if isinstance(row, UtteranceRow)]
        # Each row carries whole values: within a batch only the latest value of each field is written
        # (usage is reported per sentence; one UPDATE per call per batch is enough).
        updates: dict[uuid.UUID, dict[str, Any]] = {}
        for row in batch:
            if isinstance(row, CallFieldsRow):
                updates.setdefault(row.call_id, {}).update(row.fields)
        async with self._pool.acquire() as conn, conn.transaction():
            if utterances:
                await conn.executemany(
                    """INSERT INTO utterances (call_id, seq, role, text, heard_text, interrupted,
                                               started_at, ended_at, latency)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                       ON CONFLICT (call_id, seq) DO NOTHING""",
                    [
                        (
                            r.call_id,
                            r.seq,
                            r.role,
                            r.text,
                            r.heard_text,
                            r.interrupted,
                            r.started_at,
                            r.ended_at,
                            r.latency,
                        )
                        for r in utterances
                    ],
                )
            for call_id, fields in updates.items():
                assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(fields, start=2))
                await conn.execute(f"UPDATE calls SET {assignments} WHERE id = $1", call_id, *fields.values())
