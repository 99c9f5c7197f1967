"""Inbound calls: a verified user's number reaches their favorite persona (or the default); strangers hear a message."""

from __future__ import annotations

import asyncio
import dataclasses

from orchestrator.carrier import HangUp, Wait
from orchestrator.keys import POOL, RECORDER


async def _inbound(server, caller: str, script) -> object:
    call = server.carrier.receive_call(caller, server.settings.carrier.from_number, script)
    return await server.carrier.wait_finished(call.sid, timeout_s=20)


async def _call_row(server, user) -> dict:
    await server.client.app[RECORDER].flush()
    page = await (await user.request("GET", "/api/calls")).json()
    assert len(page["calls"]) == 1, page
    detail = await user.request("GET", f"/api/calls/{page['calls'][0]['id']}")
    return await detail.json()


async def test_verified_callers_reach_their_favorite_or_the_default_persona(phone_server) -> None:
    fan = await phone_server.verified_user("+14155550221")
    response = await fan.request("PUT", "/api/personas/brad/favorite")
    assert response.status in (200, 204), await response.text()
    plain = await phone_server.verified_user("+14155550222")

    script = (Wait(3.0), HangUp())
    reports = await asyncio.gather(
        _inbound(phone_server, "+14155550221", script), _inbound(phone_server, "+14155550222", script)
    )
    for report in reports:
        assert report.status == "completed", report
        assert len(report.streams) == 1 and report.streams[0].invalid_messages == 0
        assert report.heard_ms > 0  # the persona's greeting reached the caller's ear
        assert report.said == []

    for user, persona, report in ((fan, "brad", reports[0]), (plain, "sarah", reports[1])):
        call = await _call_row(phone_server, user)
        assert call["direction"] == "inbound" and call["persona_id"] == persona
        assert call["from"] == user.user["phone"] and call["to"] == phone_server.settings.carrier.from_number
        assert call["answered_at"] is not None
        assert report.streams[0].custom_parameters["call_id"] == call["id"]
        assert call["transcript"] and call["transcript"][0]["role"] == "persona"
        assert call["transcript"][0]["heard_text"]
    # The inbound call ended through its status callback, so it does not block the next call.
    async with asyncio.timeout(5):
        while True:
            ended = await _call_row(phone_server, fan)
            if ended["ended_at"] is not None:
                break
            await asyncio.sleep(0.05)
    assert ended["status"] == "completed" and ended["end_reason"] == "completed"


async def test_unknown_caller_hears_the_message_and_no_call_is_recorded(make_phone_server) -> None:
    # A fast talker: the carrier times <Say> by words per minute.
    phone_server = await make_phone_server(
        tune=lambda s: dataclasses.replace(s, carrier=dataclasses.replace(s.carrier, say_words_per_minute=3000.0))
    )
    pool = phone_server.client.app[POOL]
    caller = "+14155550229"
    before = await pool.fetchval("SELECT count(*) FROM calls")
    report = await _inbound(phone_server, caller, (Wait(1.0), HangUp()))
    assert report.said == [phone_server.settings.telephony.inbound_unknown_message]
    assert report.streams == []
    assert report.status == "completed"
    assert await pool.fetchval("SELECT count(*) FROM calls WHERE from_number = $1", caller) == 0
    assert await pool.fetchval("SELECT count(*) FROM calls") == before
    assert await pool.fetchval("SELECT count(*) FROM stream_tokens WHERE call_sid = $1", report.call_sid) == 0
