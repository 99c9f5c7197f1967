"""Running the carrier: in-process object, served app, shutdown with live calls, pacing, <Say> voices."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from orchestrator.carrier import CallRequest, Carrier, Scenario, running_carrier
from orchestrator.twilio_client import twilio_client

from .harness import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    CALLEE,
    OUR_NUMBER,
    AppSide,
    loud_ms,
    make_settings,
    tone_pcm,
)

SLOW_PHONE = "+15550004000"


def call_request(
    app_side: AppSide, twiml: str, events: frozenset[str] = frozenset({"completed"}), to: str = CALLEE
) -> CallRequest:
    return CallRequest(
        to=to,
        from_=OUR_NUMBER,
        url=None,
        method="POST",
        twiml=twiml,
        status_callback=app_side.url("/status"),
        status_callback_method="POST",
        events=events,
        timeout_s=5.0,
        time_limit_s=20.0,
        machine_detection=None,
    )


class ToneVoice:
    """A scripted TextToSpeech: 0.1 s of tone per word at 16 kHz, in two chunks like a real engine."""

    sample_rate = 16000

    async def synthesize(self, text: str) -> AsyncIterator[bytes]:
        audio = tone_pcm(0.1 * len(text.split()), rate_hz=self.sample_rate)
        half = len(audio) // 4 * 2
        yield audio[:half]
        yield audio[half:]


async def test_running_carrier_serves_the_sdk(tmp_path: Path) -> None:
    async with running_carrier(make_settings(tmp_path), port=0) as running:
        assert running.base_url.startswith("http://127.0.0.1:")
        client = twilio_client(running.base_url, ACCOUNT_SID, AUTH_TOKEN)
        message = await asyncio.to_thread(client.messages.create, to=CALLEE, from_=OUR_NUMBER, body="hello")
        assert running.carrier.messages(to=CALLEE)[0].sid == message.sid


async def test_shutdown_ends_live_calls_and_their_streams(tmp_path: Path, app_side: AppSide) -> None:
    stopped = asyncio.Event()
    started = asyncio.Event()

    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for message in ws:
            event = message.json()["event"]
            if event == "start":
                started.set()
            if event == "stop":
                stopped.set()

    app_side.stream_handler = handler
    twiml = f'<Response><Connect><Stream url="{app_side.ws_url()}"/></Connect></Response>'
    carrier = Carrier(make_settings(tmp_path))
    async with carrier:
        carrier.set_scenario(SLOW_PHONE, Scenario(ring_s=10))
        streaming = carrier.place_call(call_request(app_side, twiml))
        ringing = carrier.place_call(call_request(app_side, "<Response/>", to=SLOW_PHONE))
        async with asyncio.timeout(5):
            await started.wait()
        loop = asyncio.get_running_loop()
        closing = loop.time()
    assert loop.time() - closing < 1.5
    assert stopped.is_set() and streaming.finished.is_set() and ringing.finished.is_set()
    assert carrier._tasks == set()  # every call task was awaited


async def test_calls_per_second_queues_extra_calls(tmp_path: Path, app_side: AppSide) -> None:
    async with Carrier(make_settings(tmp_path, calls_per_second=10.0)) as carrier:
        sids = [
            carrier.place_call(call_request(app_side, "<Response/>", frozenset({"initiated"}))).sid for _ in range(3)
        ]
        for sid in sids:
            await carrier.wait_finished(sid, 5)
    times = sorted(hit.at for hit in app_side.on("/status"))
    assert len(times) == 3
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.09


async def test_say_uses_an_injected_voice(tmp_path: Path, app_side: AppSide) -> None:
    async with Carrier(make_settings(tmp_path), text_to_speech=ToneVoice()) as carrier:
        call = carrier.place_call(call_request(app_side, "<Response><Say>one two three</Say></Response>"))
        report = await carrier.wait_finished(call.sid, 5)
    assert report.said == ["one two three"]
    assert abs(report.heard_ms - 300) <= 5 and abs(loud_ms(report.heard_pcm) - 300) <= 20


async def test_hangup_of_an_answered_call_completes_it(tmp_path: Path, app_side: AppSide) -> None:
    async with Carrier(make_settings(tmp_path)) as carrier:
        twiml = "<Response><Pause length='20'/></Response>"
        call = carrier.place_call(call_request(app_side, twiml, frozenset({"answered", "completed"})))
        await app_side.wait_for(lambda: len(app_side.on("/status")) == 1)
        carrier.hang_up(call.sid, "canceled")  # canceled does not touch an answered call
        assert call.status == "in-progress"
        carrier.hang_up(call.sid)
        report = await carrier.wait_finished(call.sid, 2)
    assert report.status == "completed" and report.duration_s == 1
