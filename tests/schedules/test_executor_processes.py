"""Exactly once across real OS processes: two server processes (each the production Executor on its own
pool, tests/schedules/executor_process.py) race on 200 due schedules; one is killed mid-placement and a
restarted process takes over. Each occurrence's call is recorded at most once, counted in the database.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from collections import Counter
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from orchestrator.scheduler import Executor
from tests.schedules.test_executor import Recorder, _daily, _user

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """A running executor process: started, told to go, read line by line, and always reaped."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.placed: list[uuid.UUID] = []

    @classmethod
    async def start(cls, dsn: str, name: str, settings) -> ServerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.schedules.executor_process",
            dsn,
            name,
            json.dumps(asdict(settings)),
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        server = cls(process)
        assert await server.line() == "ready"
        return server

    async def line(self) -> str:
        assert self.process.stdout is not None
        async with asyncio.timeout(60):
            return (await self.process.stdout.readline()).decode().strip()

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")

    async def until_done(self, stop_after: int | None = None) -> int | None:
        """Read placements until `done` (its count) or, with `stop_after`, that many (None: killed then)."""
        while True:
            line = await self.line()
            if line.startswith("done "):
                return int(line.split()[1])
            assert line.startswith("placed "), line
            self.placed.append(uuid.UUID(line.split()[1]))
            if stop_after is not None and len(self.placed) >= stop_after:
                self.process.send_signal(signal.SIGKILL)  # no cleanup, as in a power cut
                return None

    async def exit_code(self) -> int:
        async with asyncio.timeout(30):
            return await self.process.wait()

    async def reap(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()


@pytest.fixture
async def processes():
    started: list[ServerProcess] = []
    yield started
    for server in started:
        await server.reap()


async def due_schedules(pool: asyncpg.Pool, count: int) -> set[uuid.UUID]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    users = [await _user(pool) for _ in range(20)]
    return {await _daily(pool, users[i % 20], now - timedelta(seconds=30 + i)) for i in range(count)}


async def calls_per_occurrence(pool: asyncpg.Pool) -> Counter[str]:
    return Counter(row["context"] for row in await pool.fetch("SELECT context FROM calls"))


async def test_two_processes_place_each_of_200_occurrences_exactly_once(
    make_pool, schedule_dsn, schedule_settings, processes
) -> None:
    pool = await make_pool()
    ids = await due_schedules(pool, 200)
    settings = replace(schedule_settings, claim_batch=7, placement_concurrency=3)
    processes += [await ServerProcess.start(schedule_dsn, name, settings) for name in ("a", "b")]
    for server in processes:
        server.go()
    counts = await asyncio.gather(*(server.until_done() for server in processes))
    assert [await server.exit_code() for server in processes] == [0, 0]

    assert sum(counts) == 200 and all(count > 0 for count in counts), counts  # both took part
    assert sorted(processes[0].placed + processes[1].placed) == sorted(ids)
    calls = await calls_per_occurrence(pool)
    assert len(calls) == 200 and set(calls.values()) == {1}  # one call row per occurrence, none doubled
    assert {context.split("@")[0] for context in calls} == {str(i) for i in ids}
    runs = await pool.fetch("SELECT status, call_id FROM schedule_runs")
    assert len(runs) == 200 and {run["status"] for run in runs} == {"placed"}
    assert {run["call_id"] for run in runs} == set(await pool.fetchval("SELECT array_agg(id) FROM calls"))
    by_process = await pool.fetch("SELECT from_number, count(*) FROM calls GROUP BY from_number ORDER BY 1")
    assert [tuple(row) for row in by_process] == [("a", counts[0]), ("b", counts[1])]

    # A third process started now (a restart) finds nothing due: no occurrence is placed twice.
    again = await ServerProcess.start(schedule_dsn, "c", settings)
    processes.append(again)
    again.go()
    assert await again.until_done() == 0
    assert sum((await calls_per_occurrence(pool)).values()) == 200


async def test_a_process_killed_mid_placement_is_taken_over_without_doubles(
    make_pool, schedule_dsn, schedule_settings, processes
) -> None:
    pool = await make_pool()
    ids = await due_schedules(pool, 120)
    settings = replace(schedule_settings, claim_batch=10, placement_concurrency=3)
    first = await ServerProcess.start(schedule_dsn, "first", settings)
    processes.append(first)
    first.go()
    assert await first.until_done(stop_after=25) is None  # mid-batch (batches of 10)
    assert await first.exit_code() == -signal.SIGKILL

    restarted = await ServerProcess.start(schedule_dsn, "restarted", settings)
    processes.append(restarted)
    restarted.go()
    assert await restarted.until_done() == len(restarted.placed) > 0

    calls = await calls_per_occurrence(pool)
    assert set(calls.values()) == {1}  # nothing placed twice
    runs = await pool.fetch("SELECT schedule_id, status FROM schedule_runs")
    assert sorted(run["schedule_id"] for run in runs) == sorted(ids)  # every occurrence has one run
    placed = {run["schedule_id"] for run in runs if run["status"] == "placed"}
    # Claimed by the dead process (its claim committed), not placed again by the restarted one.
    left = {run["schedule_id"] for run in runs if run["status"] == "placing"}
    assert placed | left == ids and left, (len(placed), len(left))
    assert set(restarted.placed) <= placed and not set(restarted.placed) & (set(first.placed) | left)
    assert {uuid.UUID(context.split("@")[0]) for context in calls} <= placed | left

    # Once the placing timeout has passed, what the dead process left is recorded failed, never placed.
    later = datetime.now(UTC) + timedelta(seconds=settings.placing_timeout_s + 1)
    recorder = Recorder()
    assert await Executor(pool, settings, recorder.placer("later"), clock=lambda: later).tick() == 0
    statuses = Counter(await pool.fetchval("SELECT array_agg(status) FROM schedule_runs"))
    assert statuses["placing"] == 0 and statuses["failed"] == len(left) and recorder.placed == []
