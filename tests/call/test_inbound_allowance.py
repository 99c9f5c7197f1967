"""The monthly minute allowance holds for incoming calls too: a registered caller with no minutes left
hears a polite line and no call is recorded; with a few left, the call is cut to them."""

from __future__ import annotations

import uuid
from dataclasses import replace

from orchestrator.carrier import HangUp, Wait
from orchestrator.keys import POOL
from tests.telephony.test_usage import past_call


def three_minutes_a_month(settings):
    """An allowance of three minutes; the carrier's <Say> is quick, so the refusal takes no time."""
    return replace(
        settings,
        pricing=replace(settings.pricing, monthly_minutes_allowance=3),
        carrier=replace(settings.carrier, say_words_per_minute=3000.0),
    )


async def call_in(server, caller: str, script):
    call = server.carrier.receive_call(caller, server.settings.carrier.from_number, script)
    return await server.carrier.wait_finished(call.sid, timeout_s=20)


async def test_an_incoming_caller_out_of_minutes_hears_why_and_one_with_some_left_is_cut_to_them(
    make_phone_server,
) -> None:
    server = await make_phone_server(tune=three_minutes_a_month)
    pool = server.client.app[POOL]
    spent = await server.verified_user("+14155550241")
    await past_call(server, spent, 125)  # 3 minutes billed: all of them
    report = await call_in(server, "+14155550241", (Wait(1.0), HangUp()))
    assert report.said == [server.settings.telephony.inbound_no_minutes_message] and report.streams == []
    assert await pool.fetchval("SELECT count(*) FROM calls WHERE user_id = $1", uuid.UUID(spent.user["id"])) == 1
    assert await pool.fetchval("SELECT count(*) FROM stream_tokens WHERE call_sid = $1", report.call_sid) == 0

    short = await server.verified_user("+14155550242")
    await past_call(server, short, 65)  # 2 minutes billed: one left
    report = await call_in(server, "+14155550242", (Wait(2.0), HangUp()))
    assert report.said == [] and len(report.streams) == 1 and report.heard_ms > 0
    limit = await pool.fetchval(
        "SELECT time_limit_s FROM calls WHERE provider_call_id = $1 AND direction = 'inbound'", report.call_sid
    )
    assert limit == 60  # Sarah's own limit is longer

    # Unlimited (the default): an incoming call keeps no cut of its own beyond the persona's.
    free = await make_phone_server()
    user = await free.verified_user("+14155550243")
    await past_call(free, user, 6000)
    report = await call_in(free, "+14155550243", (Wait(1.0), HangUp()))
    assert len(report.streams) == 1
    row = await free.client.app[POOL].fetchrow(
        "SELECT c.time_limit_s, p.max_call_minutes FROM calls c JOIN personas p ON p.id = c.persona_id "
        "WHERE c.provider_call_id = $1",
        report.call_sid,
    )
    assert row["time_limit_s"] == row["max_call_minutes"] * 60
