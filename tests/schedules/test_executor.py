"""The executor over a real database: exactly once under racing processes, catch-up after a restart,
missed beyond the grace window, quiet hours, and runs a dead process left mid-placement.

Placement is a recording function here (the claiming code is the production one); test_calls.py places
real calls through the local carrier.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from db import schedules
from orchestrator.scheduler import Executor, Placement


class Recorder:
    """A Placer that records what it was asked to place (and by which executor)."""

    def __init__(self) -> None:
        self.placed: list[tuple[str, Placement]] = []

    def placer(self, name: str):
        async def place(placement: Placement) -> None:
            await asyncio.sleep(0.002)  # let the other executor interleave
            self.placed.append((name, placement))

        return place


async def _user(pool: asyncpg.Pool, timezone: str = "UTC", quiet: tuple[time, time] | None = None) -> uuid.UUID:
    return await pool.fetchval(
        """INSERT INTO users (email, password_hash, timezone, quiet_hours_start, quiet_hours_end)
           VALUES ($1, 'x', $2, $3, $4) RETURNING id""",
        f"{uuid.uuid4().hex[:10]}@example.test",
        timezone,
        *(quiet or (None, None)),
    )


async def _daily(pool: asyncpg.Pool, user_id: uuid.UUID, next_run_at: datetime, timezone: str = "UTC") -> uuid.UUID:
    local = next_run_at.astimezone(ZoneInfo(timezone)).time().replace(second=0, microsecond=0)
    row = await schedules.create_schedule(
        pool,
        10_000,
        user_id=user_id,
        persona_id="brad",
        purpose="wake-up",
        context="",
        kind="recurring",
        local_time=local,
        weekdays=[1, 2, 3, 4, 5, 6, 7],
        timezone=timezone,
        max_retries=2,
        retry_interval_s=300,
        next_run_at=next_run_at,
    )
    return row["id"]


async def _runs(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM schedule_runs ORDER BY schedule_id, occurrence_at")


async def test_two_executors_place_each_of_200_occurrences_exactly_once(make_pool, schedule_settings) -> None:
    setup = await make_pool()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    users = [await _user(setup) for _ in range(20)]
    ids = set()
    for i in range(200):
        ids.add(await _daily(setup, users[i % 20], now - timedelta(seconds=30 + i)))
    recorder = Recorder()
    settings = replace(schedule_settings, claim_batch=7, placement_concurrency=3)
    # Two server processes: separate pools (connections), separate executors, the same claiming code.
    executors = [Executor(await make_pool(), settings, recorder.placer(name)) for name in ("a", "b")]
    await asyncio.gather(*(executor.tick() for executor in executors for _ in range(3)))

    occurrences = [(p.schedule_id, p.occurrence_at) for _, p in recorder.placed]
    assert len(occurrences) == 200 and len(set(occurrences)) == 200
    assert {schedule_id for schedule_id, _ in occurrences} == ids
    runs = await _runs(setup)
    assert len(runs) == 200 and {run["status"] for run in runs} == {"placed"}
    assert all(run["attempts"] == 1 for run in runs)
    # Every schedule moved on to tomorrow, so more polls (and a restarted process) place nothing.
    assert await setup.fetchval("SELECT count(*) FROM schedules WHERE next_run_at <= now()") == 0
    restarted = Executor(await make_pool(), settings, recorder.placer("c"))
    assert await restarted.tick() == 0 and await executors[0].tick() == 0
    assert len(recorder.placed) == 200 and len(await _runs(setup)) == 200


async def test_an_occurrence_already_recorded_is_not_placed_again(make_pool, schedule_settings) -> None:
    pool = await make_pool()
    due = datetime.now(UTC) - timedelta(seconds=5)
    schedule_id = await _daily(pool, await _user(pool), due)
    recorder = Recorder()
    executor = Executor(pool, schedule_settings, recorder.placer("a"))
    assert await executor.tick() == 1
    # next_run_at pointed back at the same occurrence (a racing edit, a restored backup): the run row wins.
    await pool.execute("UPDATE schedules SET next_run_at = $2 WHERE id = $1", schedule_id, due)
    assert await executor.tick() == 0
    assert len(recorder.placed) == 1 and len(await _runs(pool)) == 1
    assert await pool.fetchval("SELECT next_run_at > now() FROM schedules WHERE id = $1", schedule_id)


async def test_restart_catches_up_within_grace_and_records_missed_beyond(make_pool, schedule_settings) -> None:
    pool = await make_pool()
    now = datetime.now(UTC).replace(microsecond=0)
    user = await _user(pool, "America/New_York")
    # While the server was down: one occurrence 10 minutes ago (grace is 15), one 2 hours ago.
    late = await _daily(pool, user, now - timedelta(minutes=10), "America/New_York")
    too_late = await _daily(pool, user, now - timedelta(hours=2), "America/New_York")
    # A daily schedule whose last three occurrences all fell while the server was down.
    days_down = await _daily(pool, user, now - timedelta(days=2, hours=3), "America/New_York")
    recorder = Recorder()
    executor = Executor(pool, schedule_settings, recorder.placer("after-restart"))
    assert await executor.tick() == 1
    assert [p.schedule_id for _, p in recorder.placed] == [late]
    assert recorder.placed[0][1].occurrence_at == now - timedelta(minutes=10)  # fired late, once

    runs = await _runs(pool)
    by_schedule: dict[uuid.UUID, list[str]] = {}
    for run in runs:
        by_schedule.setdefault(run["schedule_id"], []).append(run["status"])
    assert by_schedule == {late: ["placed"], too_late: ["missed"], days_down: ["missed", "missed", "missed"]}
    missed = next(run for run in runs if run["schedule_id"] == too_late)
    assert "not running" in missed["error"] and missed["attempts"] == 0
    # Each moved to its next future occurrence at the same local time; a second restart changes nothing.
    for schedule_id in (late, too_late, days_down):
        row = await pool.fetchrow("SELECT next_run_at, local_time FROM schedules WHERE id = $1", schedule_id)
        assert row["next_run_at"] > now
        assert row["next_run_at"].astimezone(ZoneInfo("America/New_York")).time() == row["local_time"]
    assert await Executor(await make_pool(), schedule_settings, recorder.placer("again")).tick() == 0
    assert len(recorder.placed) == 1 and len(await _runs(pool)) == 5


async def test_quiet_hours_skip_and_record(make_pool, schedule_settings) -> None:
    pool = await make_pool()
    tokyo = ZoneInfo("Asia/Tokyo")
    local_now = datetime.now(tokyo)
    quiet = ((local_now - timedelta(hours=1)).time().replace(microsecond=0), (local_now + timedelta(hours=1)).time())
    sleeper = await _user(pool, "Asia/Tokyo", quiet=(quiet[0], quiet[1].replace(microsecond=0)))
    awake = await _user(pool, "Asia/Tokyo")
    due = datetime.now(UTC) - timedelta(seconds=5)
    skipped = await _daily(pool, sleeper, due, "Asia/Tokyo")
    rung = await _daily(pool, awake, due, "Asia/Tokyo")
    recorder = Recorder()
    assert await Executor(pool, schedule_settings, recorder.placer("a")).tick() == 1
    assert [p.schedule_id for _, p in recorder.placed] == [rung]
    status = await pool.fetchval("SELECT status FROM schedule_runs WHERE schedule_id = $1", skipped)
    assert status == "skipped-quiet-hours"
    assert await pool.fetchval("SELECT next_run_at > now() FROM schedules WHERE id = $1", skipped)


async def test_paused_schedules_wait_and_a_dead_placement_is_failed_not_repeated(make_pool, schedule_settings) -> None:
    pool = await make_pool()
    user = await _user(pool)
    paused = await _daily(pool, user, datetime.now(UTC) - timedelta(seconds=5))
    await pool.execute("UPDATE schedules SET paused = true WHERE id = $1", paused)
    # A process died right after its claim committed: the run is `placing` and old.
    orphan = await _daily(pool, user, datetime.now(UTC) + timedelta(days=1))
    await pool.execute(
        """INSERT INTO schedule_runs (schedule_id, occurrence_at, status, attempts, claimed_at)
           VALUES ($1, now() - interval '1 hour', 'placing', 1, now() - interval '1 hour')""",
        orphan,
    )
    recorder = Recorder()
    assert await Executor(pool, schedule_settings, recorder.placer("a")).tick() == 0
    assert recorder.placed == []
    run = await pool.fetchrow("SELECT status, error FROM schedule_runs WHERE schedule_id = $1", orphan)
    assert run["status"] == "failed" and "stopped while placing" in run["error"]
    assert await pool.fetchval("SELECT count(*) FROM schedule_runs WHERE schedule_id = $1", paused) == 0


async def test_the_purpose_becomes_the_calls_context(make_pool, schedule_settings) -> None:
    pool = await make_pool()
    schedule_id = await _daily(pool, await _user(pool), datetime.now(UTC) - timedelta(seconds=5))
    await pool.execute(
        "UPDATE schedules SET purpose = 'escape-call', context = 'at the dentist party' WHERE id = $1", schedule_id
    )
    recorder = Recorder()
    await Executor(pool, schedule_settings, recorder.placer("a")).tick()
    context = recorder.placed[0][1].context
    assert "escape call" in context and context.endswith("at the dentist party")
