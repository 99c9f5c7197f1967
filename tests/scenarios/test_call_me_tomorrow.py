"""The issue's "done when", as one story: on a call the user says "call me tomorrow at seven"; the
persona books it with its schedule_callback tool and confirms aloud; after the call the memory worker
extracts what was talked about; at seven the next morning (the scheduler's clock is set there) the
executor places the call from the same persona, and that call's prompt knows what they talked about.

The language model and speech-to-text are scripted (the model's decisions and the caller's words are
the script); everything else is the production path: server, carrier, phone, PostgreSQL, the tool, the
memory worker and the schedule executor.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.keys import POOL
from orchestrator.memory_worker import MemoryWorker
from orchestrator.scheduler import Executor, app_placer
from orchestrator.schedules import PURPOSES
from personas.llm import ToolCall
from tests.scripted_engines import scripted_engines
from tests.telephony.test_outbound_call import wait_for_call_end

ZONE = "America/New_York"
PHONE = "+14155550251"
SPEECH = Path(__file__).resolve().parent.parent / "media" / "fixtures" / "call_me_back.wav"
FACT = "Jordan has a driving test tomorrow at nine and is nervous about parallel parking."
SUMMARY = "Jordan is nervous about tomorrow's driving test. Brad will call at seven to get Jordan up early."


def by_hand(settings):
    """The worker and the executor run when the test says (the same classes `serve` runs)."""
    return replace(
        settings,
        memory=replace(settings.memory, run_worker=False, start_delay_s=0.0),
        schedules=replace(settings.schedules, run_executor=False),
    )


async def test_call_me_tomorrow_at_seven_and_the_morning_call_remembers(make_phone_server) -> None:
    engines, stt, tts, llm = scripted_engines()
    server = await make_phone_server(engines=engines, tune=by_hand)
    app, pool = server.client.app, server.client.app[POOL]
    user = await server.verified_user(PHONE)
    assert (await user.request("PATCH", "/api/me", json={"timezone": ZONE})).status == 200

    # 1. The evening call: the caller asks for a wake-up call; the persona books it and says so.
    tomorrow = (datetime.now(ZoneInfo(ZONE)) + timedelta(days=1)).date()
    stt.transcripts.append("I have my driving test at nine, call me tomorrow at seven.")
    booking = ToolCall("call-1", "schedule_callback", {"when": f"{tomorrow}T07:00", "purpose": "wake-up"})
    llm.replies.extend([[booking]])  # Brad's greeting is his own, said without the model
    server.carrier.set_scenario(PHONE, Scenario(ring_s=0.2, script=(Wait(3.0), PlayWav(SPEECH), Wait(5.0), HangUp())))
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202, await response.text()
    evening = await wait_for_call_end(server, user, (await response.json())["id"])

    confirmation = "Okay, I'll call you tomorrow at seven a.m."
    said = {turn["text"]: turn for turn in evening["transcript"] if turn["role"] == "persona"}
    assert confirmation in tts.spoken and said[confirmation]["heard_text"] == confirmation  # heard, not just sent
    [schedule] = (await (await user.request("GET", "/api/schedules")).json())["schedules"]
    assert (schedule["kind"], schedule["persona_id"], schedule["purpose"]) == ("once", "brad", "wake-up")
    seven = datetime.combine(tomorrow, time(7, 0), ZoneInfo(ZONE))
    assert datetime.fromisoformat(schedule["at"]) == seven

    # 2. After the call: the memory worker extracts a fact and a summary from the transcript.
    answer = {"facts": [{"content": FACT, "category": "events", "importance": 5}], "summary": SUMMARY}
    llm.replies.append([json.dumps(answer)])
    extraction_from = len(llm.requests)
    assert await MemoryWorker(pool, llm, server.settings.memory).tick() == 1
    extraction = json.dumps(llm.requests[extraction_from])
    assert "call me tomorrow at seven" in extraction and confirmation in extraction  # from the stored transcript
    facts = (await (await user.request("GET", "/api/personas/brad/memory")).json())["facts"]
    assert [fact["content"] for fact in facts] == [FACT]

    # 3. Nothing is due this evening; at seven tomorrow morning the executor places the call.
    executor = Executor(pool, server.settings.schedules, app_placer(app))
    assert await executor.tick() == 0
    server.carrier.set_scenario(PHONE, Scenario(ring_s=0.2, script=(Wait(3.0), HangUp())))
    morning_from = len(llm.prefills)
    at_seven = Executor(pool, server.settings.schedules, app_placer(app), clock=lambda: seven + timedelta(seconds=20))
    assert await at_seven.tick() == 1
    run = await pool.fetchrow("SELECT * FROM schedule_runs WHERE schedule_id = $1", uuid.UUID(schedule["id"]))
    assert run["status"] == "placed" and run["occurrence_at"] == seven and run["call_id"] is not None
    morning = await wait_for_call_end(server, user, str(run["call_id"]))
    assert morning["status"] == "completed" and morning["persona_id"] == "brad" and morning["direction"] == "outbound"
    assert morning["transcript"][0]["text"] == "Hey Jordan, it's Brad! Ready to get after it today?"
    assert morning["transcript"][0]["heard_text"]  # the phone played it
    assert await at_seven.tick() == 0  # placed once: the one-off is done
    assert (await (await user.request("GET", "/api/schedules")).json())["schedules"][0]["status"] != "active"

    # 4. The morning call's prompt (read by the model while Brad greeted) remembers the evening.
    system = llm.prefills[morning_from][1][0]["content"]
    assert FACT in system and SUMMARY in system
    assert "1 call together before this one" in system
    assert PURPOSES["wake-up"] in system  # why this call
    assert system.index(SUMMARY) < system.index(FACT) < system.index("live phone call")
