"""A stopping server hands back the schedule runs it claimed but did not place; another process places them.

Two executors on separate pools (as two server processes) over a real database; placement records
what it was asked (the claiming and releasing code is the production one).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from orchestrator.scheduler import Executor, Placement
from tests.schedules.conftest import make_pool, schedule_dsn, schedule_settings  # noqa: F401  (fixtures)
from tests.schedules.test_executor import Recorder, _daily, _user


async def test_stop_releases_unplaced_claims_to_another_process(make_pool, schedule_settings) -> None:  # noqa: F811
    setup = await make_pool()
    now = datetime.now(UTC)
    ids = {await _daily(setup, await _user(setup), now - timedelta(seconds=5 + i)) for i in range(5)}
    recorder = Recorder()
    settings = replace(schedule_settings, placement_concurrency=1, poll_interval_s=30.0)
    stopping = Executor(await make_pool(), settings, recorder.placer("stopping"))
    first_placement = stopping.place

    async def sigterm_during_first_placement(placement: Placement) -> None:
        stopping.stop()  # the shutdown begins while this one is with the provider: it completes
        await first_placement(placement)

    stopping.place = sigterm_during_first_placement
    task = asyncio.create_task(stopping.run())
    async with asyncio.timeout(5):  # stop() also ends the poll loop without waiting out poll_interval_s
        await task
    assert [name for name, _ in recorder.placed] == ["stopping"]
    assert stopping.released == 4
    runs = await setup.fetch("SELECT status, attempts, retry_at FROM schedule_runs")
    assert sorted(run["status"] for run in runs) == ["placed"] + ["retrying"] * 4
    assert all(run["attempts"] == 0 for run in runs if run["status"] == "retrying")  # not counted as tries

    other = Executor(await make_pool(), settings, recorder.placer("other"))
    await other.tick()
    assert sorted(name for name, _ in recorder.placed) == ["other"] * 4 + ["stopping"]
    assert {placement.schedule_id for _, placement in recorder.placed} == ids
    runs = await setup.fetch("SELECT status, attempts FROM schedule_runs")
    assert len(runs) == 5 and {(run["status"], run["attempts"]) for run in runs} == {("placed", 1)}
