"""Scheduled calls placed for real: executor -> place_call -> twilio SDK -> local carrier -> status callbacks.

The executor's clock is pushed forward to reach retries (the policy's shortest wait is a minute); calls,
callbacks and the database run in real time.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from orchestrator.carrier import HangUp, Outcome, Scenario, Wait
from orchestrator.keys import POOL
from orchestrator.scheduler import Executor, app_placer


class ShiftedClock:
    def __init__(self) -> None:
        self.shift = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    async def at(self, instant: datetime, action):
        """Run `action` with the clock just past `instant`, then back to real time."""
        self.shift = instant - datetime.now(UTC) + timedelta(seconds=1)
        try:
            return await action()
        finally:
            self.shift = timedelta()


def _tune(settings):
    return replace(
        settings,
        schedules=replace(settings.schedules, run_executor=False),
        telephony=replace(settings.telephony, ring_timeout_s=1),
    )


async def _server_and_user(make_phone_server, phone: str):
    server = await make_phone_server(tune=_tune)
    user = await server.verified_user(phone)
    # The daily time is half a day away, so no regular occurrence falls due while the clock is pushed to retries.
    daily_time = (datetime.now(ZoneInfo(user.user["timezone"])) + timedelta(hours=12)).strftime("%H:%M")
    response = await user.request(
        "POST",
        "/api/schedules",
        json={
            "persona_id": "brad",
            "purpose": "wake-up",
            "recurrence": {"repeat": "daily", "time": daily_time},
            "retries": {"max": 2, "interval_s": 60},
        },
    )
    assert response.status == 201, await response.text()
    schedule = await response.json()
    pool = server.client.app[POOL]
    # The occurrence is due now (as if its time had just come).
    await pool.execute("UPDATE schedules SET next_run_at = now() - interval '1 second' WHERE id = $1", schedule["id"])
    clock = ShiftedClock()
    executor = Executor(pool, server.settings.schedules, app_placer(server.client.app), clock=clock)
    return server, user, schedule, executor, clock


async def _calls_ended(pool, user_id: str, count: int) -> list:
    async with asyncio.timeout(20):
        while True:
            rows = await pool.fetch(
                "SELECT id, status, ended_at, context FROM calls WHERE user_id = $1 ORDER BY requested_at", user_id
            )
            if len(rows) == count and all(row["ended_at"] is not None for row in rows):
                return rows
            await asyncio.sleep(0.05)


async def _run(user, schedule) -> dict:
    detail = await (await user.request("GET", f"/api/schedules/{schedule['id']}")).json()
    assert len(detail["runs"]) == 1
    return detail["runs"][0]


async def test_busy_is_retried_per_policy_then_failed(make_phone_server) -> None:
    phone = "+14155550171"
    server, user, schedule, executor, clock = await _server_and_user(make_phone_server, phone)
    server.carrier.set_scenario(phone, Scenario(outcome=Outcome.BUSY, ring_s=0.1))
    pool, user_id = server.client.app[POOL], user.user["id"]

    assert await executor.tick() == 1
    for attempt in (1, 2, 3):
        calls = await _calls_ended(pool, user_id, attempt)
        assert [call["status"] for call in calls] == ["busy"] * attempt
        await executor.tick()  # settles the ended call
        run = await _run(user, schedule)
        assert run["attempts"] == attempt and run["call_id"] == str(calls[-1]["id"])
        if attempt < 3:
            assert run["status"] == "retrying" and run["error"] == "the call ended busy"
            retry_at = datetime.fromisoformat(run["retry_at"])
            assert timedelta(seconds=59) < retry_at - calls[-1]["ended_at"] <= timedelta(seconds=60)
            assert await executor.tick() == 0  # not yet due
            assert await clock.at(retry_at, executor.tick) == 1  # the retry
        else:
            assert run["status"] == "failed" and run["error"] == "the call ended busy"
    assert await executor.tick() == 0
    assert len(await _calls_ended(pool, user_id, 3)) == 3  # 1 + 2 retries, no more
    assert "wake-up call" in calls[0]["context"]


async def test_no_answer_then_answered_on_the_retry(make_phone_server) -> None:
    phone = "+14155550172"
    server, user, schedule, executor, clock = await _server_and_user(make_phone_server, phone)
    server.carrier.set_scenario(phone, Scenario(outcome=Outcome.NO_ANSWER))
    pool, user_id = server.client.app[POOL], user.user["id"]

    assert await executor.tick() == 1
    first = await _calls_ended(pool, user_id, 1)
    assert first[0]["status"] == "no-answer"
    server.carrier.set_scenario(phone, Scenario(ring_s=0.1, script=(Wait(0.5), HangUp())))
    await executor.tick()
    run = await _run(user, schedule)
    assert run["status"] == "retrying"
    assert await clock.at(datetime.fromisoformat(run["retry_at"]), executor.tick) == 1
    calls = await _calls_ended(pool, user_id, 2)
    assert calls[-1]["status"] == "completed"
    await executor.tick()
    run = await _run(user, schedule)
    assert run["status"] == "placed" and run["attempts"] == 2 and run["error"] is None
    assert run["call_id"] == str(calls[-1]["id"])
    assert await clock.at(datetime.now(UTC) + timedelta(minutes=10), executor.tick) == 0  # answered: done
