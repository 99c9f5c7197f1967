"""A whole outbound call through the local carrier: API -> SDK -> carrier -> webhooks -> media stream."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.keys import RECORDER, TELEPHONY

FIXTURES = Path(__file__).resolve().parent.parent / "media" / "fixtures"


async def wait_for_call_end(server, user, call_id: str, timeout_s: float = 30.0) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            call = await (await user.request("GET", f"/api/calls/{call_id}")).json()
            if call["ended_at"] is not None and call["status"] in (
                "completed",
                "busy",
                "no-answer",
                "failed",
                "canceled",
            ):
                await server.client.app[RECORDER].flush()
                return await (await user.request("GET", f"/api/calls/{call_id}")).json()
            await asyncio.sleep(0.1)


async def test_call_me_now_end_to_end(make_phone_server) -> None:
    from tests.scripted_engines import scripted_engines

    engines, stt, _tts, llm = scripted_engines(
        transcripts=["Call me back later please."],
        replies=[["Sure thing. Talk soon."]],  # Brad's greeting is his own, said without the model
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550131")
    server.carrier.set_scenario(
        "+14155550131",
        Scenario(ring_s=0.3, script=(Wait(3.0), PlayWav(FIXTURES / "call_me_back.wav"), Wait(4.0), HangUp())),
    )
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad", "context": "morning goals"})
    assert response.status == 202, await response.text()
    placed = await response.json()
    assert placed["status"] in ("queued", "initiated", "ringing", "in-progress")
    assert placed["to"] == "+14155550131" and placed["persona_id"] == "brad"

    call = await wait_for_call_end(server, user, placed["id"])
    assert call["status"] == "completed" and call["end_reason"] == "completed"
    assert call["answered_at"] is not None and call["duration_s"] >= 1
    statuses = [event["status"] for event in call["events"]]
    assert statuses == ["initiated", "ringing", "in-progress", "completed"]
    assert [event["sequence_number"] for event in call["events"]] == [0, 1, 2, 3]

    roles = [(turn["role"], turn["text"]) for turn in call["transcript"]]
    assert roles[0] == ("persona", "Hey Jordan, it's Brad! Ready to get after it today?")
    assert ("caller", "Call me back later please.") in roles
    assert roles[-1] == ("persona", "Sure thing. Talk soon.")
    greeting = call["transcript"][0]
    assert greeting["heard_text"] == greeting["text"] and not greeting["interrupted"]
    reply = call["transcript"][-1]
    assert reply["latency_ms"]["transcript"] >= 0
    assert reply["latency_ms"]["first_frame_sent"] >= reply["latency_ms"]["llm_first_token"]
    # The persona's prompt carried the call's reason, fenced as the user's words.
    assert "morning goals" in llm.requests[0][0]["content"]
    assert stt.heard and 1.0 < stt.heard[0] < 4.0  # the caller's utterance, not the silence around it
    # Transcribed once: started speculatively at the first pause and reused when the turn ended there.
    assert len(stt.heard) == 1

    report = server.carrier.call(_sid(server, placed["id"])).report
    stream = report.streams[0]
    assert stream.custom_parameters["call_id"] == placed["id"]
    assert stream.ended_by == "phone"
    assert stream.invalid_messages == 0
    echoed = [mark for mark in stream.marks if not mark.flushed]
    assert len(echoed) >= 2  # a mark per spoken sentence, echoed after it played
    assert report.heard_ms > 2000  # the persona's audio reached the phone's ear


def _sid(server, call_id: str) -> str:
    return next(
        c.sid
        for c in server.carrier.calls()
        if c.report.streams and c.report.streams[0].custom_parameters.get("call_id") == call_id
    )


async def test_provider_refusal_ends_as_failed_call(phone_server) -> None:
    user = await phone_server.verified_user("+14155550132")
    phone_server.carrier.set_scenario("+14155550132", Scenario())
    # The carrier refuses a From number it does not own, as Twilio does (21210).
    telephony = phone_server.client.app[TELEPHONY]
    original = telephony.from_number
    telephony.from_number = "+14155559999"
    try:
        response = await user.request("POST", "/api/calls", json={"persona_id": "sarah"})
    finally:
        telephony.from_number = original
    assert response.status == 202
    call = await response.json()
    assert call["status"] == "failed" and call["end_reason"] == "failed"
    assert "refused" in call["error"] and "21210" in call["error"]
    # A failed call is not live: the next one can be placed (and is hung up through the API).
    response = await user.request("POST", "/api/calls", json={"persona_id": "sarah"})
    assert response.status == 202
    second = (await response.json())["id"]
    assert (await user.request("POST", f"/api/calls/{second}/hangup")).status == 202
    assert (await wait_for_call_end(phone_server, user, second))["status"] in ("completed", "canceled")


async def test_unverified_and_unknown_persona(phone_server) -> None:
    from tests.api.users import sign_up

    user = await sign_up(phone_server.client)
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 403 and (await response.json())["error"]["code"] == "phone_not_verified"
    verified = await phone_server.verified_user("+14155550133")
    response = await verified.request("POST", "/api/calls", json={"persona_id": "nobody-here"})
    assert response.status == 404
    response = await verified.request("GET", f"/api/calls/{uuid.uuid4()}")
    assert response.status == 404
