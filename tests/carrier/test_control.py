"""The `/_carrier` control API over HTTP: numbers, scenarios, inbound calls, reports."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
from aiohttp import web

from .harness import CALLEE, OUR_NUMBER, AppSide, CarrierUnderTest, loud_ms, tone_pcm

CALLER = "+15550003000"


async def control(
    carrier: CarrierUnderTest, method: str, path: str, body: Any = None, **params: str
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, f"{carrier.base_url}/_carrier{path}", json=body, params=params) as response,
    ):
        return response.status, (await response.json() if response.status != 204 else None)


async def test_inbound_call_reaches_the_numbers_voice_url(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    status, number = await control(
        carrier,
        "PUT",
        f"/numbers/{OUR_NUMBER}",
        {"voice_url": app_side.url("/voice"), "status_callback": app_side.url("/status")},
    )
    assert status == 200 and number["voice_url"] == app_side.url("/voice")
    app_side.twiml["/voice"] = (
        f'<Response><Say>Hi</Say><Connect><Stream url="{app_side.ws_url()}">'
        '<Parameter name="who" value="caller"/></Stream></Connect></Response>'
    )
    heard: list[bytes] = []

    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for message in ws:
            event = message.json()
            if event["event"] == "start":
                assert event["start"]["customParameters"] == {"who": "caller"}
            if event["event"] == "media":
                heard.append(base64.b64decode(event["media"]["payload"]))

    app_side.stream_handler = handler
    pcm = base64.b64encode(tone_pcm(0.2)).decode()
    script = [{"wait": 0.1}, {"pcm": pcm, "rate": 8000}, {"hangup": True}]
    status, created = await control(carrier, "POST", "/inbound", {"from": CALLER, "to": OUR_NUMBER, "script": script})
    assert status == 201
    status, report = await control(carrier, "GET", f"/calls/{created['call_sid']}", wait="5", audio="1")

    assert status == 200 and report["finished"] and report["status"] == "completed"
    assert report["direction"] == "inbound" and report["said"] == ["Hi"]
    assert report["streams"][0]["ended_by"] == "phone" and report["streams"][0]["frames_sent"] == 15
    assert loud_ms(base64.b64decode(report["caller_pcm_b64"])) == 200
    (voice,) = app_side.on("/voice")
    assert voice.signature_valid
    assert (voice.params["Direction"], voice.params["CallStatus"]) == ("inbound", "ringing")
    assert (voice.params["From"], voice.params["To"]) == (CALLER, OUR_NUMBER)
    await app_side.wait_for(lambda: len(app_side.on("/status")) == 1)
    (done,) = app_side.on("/status")
    assert (done.params["CallStatus"], done.params["SequenceNumber"], done.params["Direction"]) == (
        "completed",
        "0",
        "inbound",
    )


async def test_inbound_reject_is_busy_without_answering(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    carrier.carrier.configure_number(OUR_NUMBER, voice_url=app_side.url("/voice"))
    app_side.twiml["/voice"] = '<Response><Reject reason="busy"/><Say>ignored</Say></Response>'
    call = carrier.carrier.receive_call(CALLER, OUR_NUMBER)
    report = await carrier.carrier.wait_finished(call.sid, 5)
    assert report.status == "busy" and report.said == [] and call.start_time is None
    assert report.duration_s == 0


async def test_scenarios_over_http(carrier: CarrierUnderTest) -> None:
    status, scenario = await control(
        carrier,
        "PUT",
        f"/scenarios/{CALLEE}",
        {"outcome": "busy", "ring_s": 0.1, "duplicate_callbacks": True},
    )
    assert status == 200 and scenario["outcome"] == "busy" and scenario["duplicate_callbacks"] is True
    assert (await control(carrier, "GET", "/scenarios"))[1][CALLEE]["outcome"] == "busy"
    status, error = await control(carrier, "PUT", f"/scenarios/{CALLEE}", {"script": [{"dtmf": "x"}]})
    assert status == 400 and "DTMF" in error["message"]
    status, error = await control(carrier, "PUT", f"/scenarios/{CALLEE}", {"outcome": "maybe"})
    assert status == 400
    assert (await control(carrier, "DELETE", f"/scenarios/{CALLEE}"))[0] == 204
    assert (await control(carrier, "GET", "/scenarios"))[1] == {}
    status, error = await control(carrier, "POST", "/inbound", {"from": CALLER, "to": "+15550009999"})
    assert status == 404 and error["code"] == 20404
