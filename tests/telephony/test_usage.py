"""Usage and cost: what a call used (from the engines themselves), per-user totals, and the monthly
minute allowance (refused with 402 when used up; a call's time limit cut to the minutes left)."""

from __future__ import annotations

import math
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from db import calls
from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.keys import POOL
from orchestrator.usage import cost_usd
from tests.scripted_engines import (
    SCRIPTED_USAGE,
    ScriptedLanguageModel,
    ScriptedSpeechToText,
    ScriptedTextToSpeech,
)
from tests.telephony.test_outbound_call import FIXTURES, wait_for_call_end


async def test_a_calls_usage_and_my_totals(phone_server) -> None:
    """On the shared server: its scripted engines' records from this call are told apart by position."""
    server = phone_server
    stt, tts, llm = server.engines.stt, server.engines.tts, server.engines.llm
    assert isinstance(stt, ScriptedSpeechToText) and isinstance(llm, ScriptedLanguageModel)
    assert isinstance(tts, ScriptedTextToSpeech)
    stt.transcripts.clear()  # whatever an earlier test left unsaid
    llm.replies.clear()
    stt.transcripts.append("Call me back later please.")
    llm.replies.extend([["Sure thing. Talk soon."]])  # Brad's greeting is his own, said without the model
    heard_from, requests_from, spoken_from = len(stt.heard), len(llm.requests), len(tts.spoken)
    user = await server.verified_user("+14155550181")
    other = await server.verified_user("+14155550182")
    server.carrier.set_scenario(
        "+14155550181",
        Scenario(ring_s=0.2, script=(Wait(3.0), PlayWav(FIXTURES / "call_me_back.wav"), Wait(4.0), HangUp())),
    )
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202, await response.text()
    call = await wait_for_call_end(server, user, (await response.json())["id"])

    used = call["usage"]
    assert call["duration_s"] >= 1 and used["minutes_billed"] == math.ceil(call["duration_s"] / 60)
    heard, requests, spoken = stt.heard[heard_from:], len(llm.requests) - requests_from, tts.spoken[spoken_from:]
    assert len(heard) == 1 and used["stt_seconds"] == pytest.approx(heard[0], abs=0.05)
    assert requests == 1 and used["llm_tokens_in"] == SCRIPTED_USAGE.prompt_tokens * requests
    assert used["llm_tokens_out"] == SCRIPTED_USAGE.completion_tokens * requests
    assert used["tts_chars"] == sum(len(text) for text in spoken) > 0
    pricing = server.settings.pricing
    assert used["estimated_cost_usd"] == pytest.approx(cost_usd(used, pricing)) and used["estimated_cost_usd"] > 0

    mine = await (await user.request("GET", "/api/me/usage")).json()
    for period in ("month", "all_time"):
        totals = mine[period]
        assert totals["calls"] == 1
        assert {name: totals[name] for name in used} == pytest.approx(used)
    assert mine["allowance"] == {"monthly_minutes": None, "minutes_left": None}
    # Another user's totals do not include this call.
    theirs = await (await other.request("GET", "/api/me/usage")).json()
    assert theirs["all_time"]["calls"] == 0 and theirs["all_time"]["minutes_billed"] == 0
    assert theirs["month"]["estimated_cost_usd"] == 0


async def past_call(server, user, duration_s: int, days_ago: float = 0.0) -> None:
    """A completed call of `duration_s` recorded for the user (as if placed earlier)."""
    ended = datetime.now(UTC) - timedelta(days=days_ago)
    await calls.insert_call(
        server.client.app[POOL],
        user_id=uuid.UUID(user.user["id"]),
        persona_id="brad",
        direction="outbound",
        to_number=user.user["phone"],
        status="completed",
        requested_at=ended - timedelta(seconds=duration_s + 10),
        answered_at=ended - timedelta(seconds=duration_s),
        ended_at=ended,
        duration_s=duration_s,
    )


async def test_monthly_allowance(make_phone_server) -> None:
    server = await make_phone_server(tune=lambda s: replace(s, pricing=replace(s.pricing, monthly_minutes_allowance=3)))
    spent = await server.verified_user("+14155550183")
    await past_call(server, spent, 125)  # 3 minutes billed: all of them
    await past_call(server, spent, 600, days_ago=40)  # last month's: not counted against this one
    server.carrier.set_scenario("+14155550183", Scenario())
    response = await spent.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 402
    error = (await response.json())["error"]
    assert error["code"] == "minutes_used_up" and "3 call minutes" in error["message"]
    mine = await (await spent.request("GET", "/api/me/usage")).json()
    assert mine["month"]["minutes_billed"] == 3 and mine["all_time"]["minutes_billed"] == 13
    assert mine["allowance"] == {"monthly_minutes": 3, "minutes_left": 0}

    # One minute left: the call goes out with a one-minute limit (Brad's own is longer), at the carrier too.
    short = await server.verified_user("+14155550184")
    await past_call(server, short, 65)
    server.carrier.set_scenario("+14155550184", Scenario(ring_s=0.2, script=(Wait(1.0), HangUp())))
    response = await short.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202, await response.text()
    placed = await response.json()
    assert placed["time_limit_s"] == 60
    sid = await server.client.app[POOL].fetchval(
        "SELECT provider_call_id FROM calls WHERE id = $1", uuid.UUID(placed["id"])
    )
    assert server.carrier.call(sid).request.time_limit_s == 60
    await wait_for_call_end(server, short, placed["id"])
