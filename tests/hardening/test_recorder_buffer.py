"""The recorder's buffer is bounded: an outage longer than it can hold drops the newest rows, counted."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from db.recorder import Recorder, UtteranceRow


async def test_a_full_buffer_drops_the_newest_rows_and_counts_them(make_database) -> None:
    pool = await asyncpg.create_pool(await make_database(), min_size=1, max_size=1)
    try:
        recorder = Recorder(pool, max_rows=5)  # its writer is not running: as if the database were down
        call_id = uuid.uuid4()
        for seq in range(8):
            recorder.add(UtteranceRow(call_id, seq, "caller", f"line {seq}", None, False, datetime.now(UTC), None, {}))
        assert (recorder.pending, recorder.dropped) == (5, 3)
        assert [row.seq for row in recorder._rows] == [0, 1, 2, 3, 4]  # the oldest are kept, in order
    finally:
        await pool.close()
