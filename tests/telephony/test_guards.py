"""Placement guards (one live call, rate limit, daily cap), hanging up through the API, and call history."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid

from db import calls as call_queries
from orchestrator.carrier import Outcome, Scenario
from orchestrator.keys import POOL
from tests.api.users import sign_up
from tests.telephony.test_outbound_call import wait_for_call_end


async def _place(user, persona_id: str = "brad"):
    return await user.request("POST", "/api/calls", json={"persona_id": persona_id})


async def _wait_status(user, call_id: str, wanted: set[str], timeout_s: float = 10.0) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            call = await (await user.request("GET", f"/api/calls/{call_id}")).json()
            if call["status"] in wanted:
                return call
            await asyncio.sleep(0.05)


async def _old_calls(server, user, count: int, age_s: float) -> list[uuid.UUID]:
    """Ended calls placed `age_s` ago, inserted directly (the guards only count rows)."""
    pool = server.client.app[POOL]
    ids = []
    for i in range(count):
        row = await call_queries.insert_call(
            pool,
            user_id=uuid.UUID(user.user["id"]),
            persona_id="brad",
            direction="outbound",
            to_number=user.user["phone"],
            status="completed",
            end_reason="completed",
            requested_at=await pool.fetchval("SELECT now() - make_interval(secs => $1::float8)", age_s + i),
            ended_at=await pool.fetchval("SELECT now() - make_interval(secs => $1::float8)", age_s + i - 1),
        )
        ids.append(row["id"])
    return ids


async def test_second_live_call_is_409_and_hangup_ends_a_ringing_call(phone_server) -> None:
    user = await phone_server.verified_user("+14155550211")
    phone_server.carrier.set_scenario("+14155550211", Scenario(ring_s=25.0))
    response = await _place(user)
    assert response.status == 202, await response.text()
    first = await response.json()
    await _wait_status(user, first["id"], {"ringing"})

    response = await _place(user, "sarah")
    assert response.status == 409 and (await response.json())["error"]["code"] == "call_in_progress"
    listed = await (await user.request("GET", "/api/calls")).json()
    assert [c["id"] for c in listed["calls"]] == [first["id"]]  # the refused call left no row

    response = await user.request("POST", f"/api/calls/{first['id']}/hangup")
    assert response.status == 202, await response.text()
    ended = await wait_for_call_end(phone_server, user, first["id"], timeout_s=10)
    assert ended["status"] in ("canceled", "completed") and ended["ended_at"] is not None
    assert ended["end_reason"] == ended["status"] and ended["answered_at"] is None
    response = await user.request("POST", f"/api/calls/{first['id']}/hangup")
    assert response.status == 409 and (await response.json())["error"]["code"] == "call_ended"
    # No longer live: the next call goes through.
    phone_server.carrier.set_scenario("+14155550211", Scenario(outcome=Outcome.BUSY, ring_s=0.1))
    response = await _place(user, "sarah")
    assert response.status == 202
    await wait_for_call_end(phone_server, user, (await response.json())["id"])


async def test_hangup_ends_an_answered_call(phone_server) -> None:
    user = await phone_server.verified_user("+14155550212")
    phone_server.carrier.set_scenario("+14155550212", Scenario(ring_s=0.1))  # answers, then stays silent
    response = await _place(user)
    call_id = (await response.json())["id"]
    await _wait_status(user, call_id, {"in-progress"})
    response = await user.request("POST", f"/api/calls/{call_id}/hangup")
    assert response.status == 202
    ended = await wait_for_call_end(phone_server, user, call_id, timeout_s=10)
    assert ended["status"] == "completed" and ended["end_reason"] == "completed"
    assert ended["answered_at"] is not None and ended["ended_at"] >= ended["answered_at"]
    assert [e["status"] for e in ended["events"]][-1] == "completed"


async def test_other_users_call_is_404(phone_server) -> None:
    owner = await phone_server.verified_user("+14155550213")
    (call_id,) = await _old_calls(phone_server, owner, 1, 60)
    stranger = await sign_up(phone_server.client)
    for method, path in (("GET", f"/api/calls/{call_id}"), ("POST", f"/api/calls/{call_id}/hangup")):
        response = await stranger.request(method, path)
        assert response.status == 404, path
    assert (await owner.request("GET", f"/api/calls/{call_id}")).status == 200
    # A stranger's cursor is not one of theirs either.
    response = await stranger.request("GET", f"/api/calls?before={call_id}")
    assert response.status == 400


async def test_history_is_newest_first_with_a_cursor(phone_server) -> None:
    user = await phone_server.verified_user("+14155550214")
    ids = [str(i) for i in await _old_calls(phone_server, user, 5, 100)]  # ids[0] is the newest
    seen, before = [], None
    pages = 0
    while True:
        path = "/api/calls?limit=2" + (f"&before={before}" if before else "")
        page = await (await user.request("GET", path)).json()
        pages += 1
        seen += [c["id"] for c in page["calls"]]
        before = page["next"]
        if before is None:
            break
    assert seen == ids and pages == 3


async def test_rate_limit_and_daily_cap(make_phone_server) -> None:
    server = await make_phone_server(
        tune=lambda s: dataclasses.replace(
            s, telephony=dataclasses.replace(s.telephony, calls_per_window=2, daily_call_cap=4)
        )
    )
    user = await server.verified_user("+14155550215")
    for number in ("+14155550215", "+14155550217"):
        server.carrier.set_scenario(number, Scenario(outcome=Outcome.BUSY, ring_s=0.1))
    for _ in range(2):
        response = await _place(user)
        assert response.status == 202, await response.text()
        call = await wait_for_call_end(server, user, (await response.json())["id"])
        assert call["status"] == "busy"
    response = await _place(user)
    assert response.status == 429
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) == server.settings.telephony.calls_window_s

    # Calls earlier today, outside the window, still count towards the daily cap.
    capped = await server.verified_user("+14155550216")
    await _old_calls(server, capped, 4, 3 * 3600)
    response = await _place(capped)
    assert response.status == 429
    body = await response.json()
    assert body["error"]["code"] == "rate_limited" and "daily" in body["error"]["message"]
    # Yesterday's calls do not.
    relaxed = await server.verified_user("+14155550217")
    await _old_calls(server, relaxed, 4, 25 * 3600)
    response = await _place(relaxed)
    assert response.status == 202
    await wait_for_call_end(server, relaxed, (await response.json())["id"])
