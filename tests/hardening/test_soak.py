"""The soak at CI scale: 10 calls kept live for 30 s through the carrier (a child process), then the checks.

`bench/soak.py` is the real thing (`--calls 100 --minutes 10` on an idle machine, README "Reliability");
this runs the same code small: every call's records complete, no caller turn lost, and the asyncio tasks
and open sockets back at their baseline once the calls have ended.
"""

from __future__ import annotations

from pathlib import Path

from bench.soak import parse_args, soak


async def test_ten_calls_for_thirty_seconds_leave_nothing_behind(make_database, tmp_path: Path) -> None:
    args = parse_args(["--calls", "10", "--minutes", "0.5", "--call-s", "15"])
    results = await soak(args, tmp_path, database_url=await make_database())

    assert results.calls >= 20 and results.peak_live >= 8  # 10 slots, a new call as each one ends
    assert results.incomplete == [] and results.completed == results.calls
    assert results.lost_utterances == 0 and results.caller_utterances == results.lines_spoken > 0
    assert results.tasks_after <= results.tasks_before, (results.tasks_before, results.tasks_after)
    assert results.sockets_after <= results.sockets_before + 2, (results.sockets_before, results.sockets_after)
