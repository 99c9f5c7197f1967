"""The persona books a callback mid-call: "call me tomorrow at seven" -> a one-off schedule in the user's
zone, a confirmation said aloud with the time in words, and the schedule in GET /api/schedules.

The scripted model stands in for the language model's decision (a native tool call, or a small model's
JSON written as content); everything after it is the real path: server, local carrier, PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from orchestrator.call_tools import (
    SORRY_FAR,
    SORRY_PAST,
    SORRY_WHEN,
    schedule_callback,
    spoken_time,
    spoken_when,
)
from orchestrator.carrier import HangUp, PlayWav, Wait
from orchestrator.config import ScheduleSection
from orchestrator.keys import POOL
from personas.llm import ToolCall
from tests.call.test_conversation import SPEECH, finish, place_call
from tests.scripted_engines import ScriptedLanguageModel, ScriptedSpeechToText, ScriptedTextToSpeech, scripted_engines

ZONE = "America/New_York"


@pytest.fixture(scope="module")
async def server(make_phone_server):
    """One server for the module (each server holds database connections until the session ends)."""
    return await make_phone_server(engines=scripted_engines()[0])


def script(server, transcripts: Sequence[str], replies: Sequence[Sequence[object]]):
    """The next call's script, on the module server's scripted engines."""
    stt, tts, llm = server.engines.stt, server.engines.tts, server.engines.llm
    assert isinstance(stt, ScriptedSpeechToText) and isinstance(llm, ScriptedLanguageModel)
    assert isinstance(tts, ScriptedTextToSpeech)
    stt.transcripts.clear()
    llm.replies.clear()
    stt.transcripts.extend(transcripts)
    llm.replies.extend(replies)
    llm.offered.clear()
    tts.spoken.clear()
    return tts, llm


def local_day(offset_days: int) -> datetime:
    return datetime.now(ZoneInfo(ZONE)) + timedelta(days=offset_days)


async def user_in_zone(server, phone: str):
    user = await server.verified_user(phone)
    response = await user.request("PATCH", "/api/me", json={"timezone": ZONE})
    assert response.status == 200, await response.text()
    return user


async def test_call_me_tomorrow_at_seven(server) -> None:
    tomorrow = local_day(1).date()
    booking = ToolCall("call-1", "schedule_callback", {"when": f"{tomorrow}T07:00", "purpose": "wake-up"})
    tts, llm = script(server, ["Call me tomorrow at seven."], [["Hey Jordan, it's Brad."], [booking]])
    user = await user_in_zone(server, "+14155550171")
    call_id = await place_call(server, user, [Wait(2.5), PlayWav(SPEECH), Wait(5.0), HangUp()])
    call, _report = await finish(server, user, call_id)

    confirmation = "Okay, I'll call you tomorrow at seven a.m."
    persona_turns = [turn["text"] for turn in call["transcript"] if turn["role"] == "persona"]
    assert confirmation in persona_turns
    assert confirmation in tts.spoken
    assert llm.offered == [[], ["end_call", "schedule_callback"]]  # no tools for the greeting

    listed = await (await user.request("GET", "/api/schedules")).json()
    [schedule] = listed["schedules"]
    assert schedule["kind"] == "once" and schedule["purpose"] == "wake-up"
    assert schedule["persona_id"] == call["persona_id"]  # the persona on the line calls back
    assert schedule["timezone"] == ZONE and schedule["status"] == "active"
    at = datetime.fromisoformat(schedule["at"])
    assert at.date() == tomorrow and at.time() == time(7, 0)
    row = await server.client.app[POOL].fetchrow(
        "SELECT run_at, next_run_at, user_id FROM schedules WHERE id = $1", uuid.UUID(schedule["id"])
    )
    local = row["run_at"].astimezone(ZoneInfo(ZONE))
    assert (local.date(), local.time()) == (tomorrow, time(7, 0)) and row["next_run_at"] == row["run_at"]
    assert str(row["user_id"]) == user.user["id"]


async def test_json_tool_call_in_text(server) -> None:
    """A small model writes the call as content: it is acted on, and never spoken."""
    day = local_day(2)
    written = json.dumps({"name": "schedule_callback", "arguments": {"when": f"{day.date()}T18:30"}})
    tts, _llm = script(
        server,
        ["Call me again the day after tomorrow at half six in the evening."],
        [["Hey Jordan, it's Brad."], [f"Sure thing. {written}"]],
    )
    user = await user_in_zone(server, "+14155550172")
    call_id = await place_call(server, user, [Wait(2.5), PlayWav(SPEECH), Wait(6.0), HangUp()])
    call, _report = await finish(server, user, call_id)

    said = " ".join(turn["text"] for turn in call["transcript"] if turn["role"] == "persona")
    assert f"Sure thing. Okay, I'll call you on {day:%A} at six thirty p.m." in said
    assert not any("{" in text for text in tts.spoken)
    [schedule] = (await (await user.request("GET", "/api/schedules")).json())["schedules"]
    at = datetime.fromisoformat(schedule["at"])
    assert (at.date(), at.time()) == (day.date(), time(18, 30)) and schedule["purpose"] == "callback"


@pytest.mark.parametrize(
    ("when", "line"),
    [
        ("not a time", SORRY_WHEN),
        (None, SORRY_WHEN),
        ("2020-01-01T07:00", SORRY_PAST),
        (f"{(datetime.now(UTC) + timedelta(days=45)).date()}T07:00", SORRY_FAR),
    ],
)
async def test_unusable_times_get_an_apology(when, line) -> None:
    """Refused before the database is touched (no pool needed)."""
    settings = ScheduleSection(True, 5.0, 900, 2, 300, 50, 4, 300, 20, 3)
    arguments = {} if when is None else {"when": when}
    assert await schedule_callback(None, settings, uuid.uuid4(), "brad", ZONE, arguments) == line  # type: ignore[arg-type]


def test_times_in_words() -> None:
    assert spoken_time(7, 0) == "seven a.m."
    assert spoken_time(18, 30) == "six thirty p.m."
    assert spoken_time(9, 5) == "nine oh five a.m."
    assert spoken_time(23, 45) == "eleven forty-five p.m."
    assert (spoken_time(12, 0), spoken_time(0, 0), spoken_time(12, 15)) == ("noon", "midnight", "twelve fifteen p.m.")
    now = datetime(2026, 3, 6, 22, 0, tzinfo=ZoneInfo(ZONE))  # a Friday evening
    at = datetime(2026, 3, 7, 7, 0, tzinfo=ZoneInfo(ZONE))
    assert spoken_when(at, ZONE, now) == "tomorrow at seven a.m."
    assert spoken_when(at + timedelta(days=2), ZONE, now) == "on Monday at seven a.m."
    assert spoken_when(at + timedelta(days=9), ZONE, now) == "on Monday, March 16 at seven a.m."
    assert spoken_when(now + timedelta(hours=1), ZONE, now) == "today at eleven p.m."
