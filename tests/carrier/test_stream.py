"""`<Connect><Stream>`: the phone speaks Twilio's media-stream protocol to a real websocket server."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import WSMsgType, web
from twilio.request_validator import RequestValidator

from orchestrator.carrier import CallRequest, Carrier, Dtmf, HangUp, PlayPcm, PlayWav, Scenario, Wait
from orchestrator.carrier.audio import mulaw_decode, mulaw_encode

from .harness import (
    AUTH_TOKEN,
    CALLEE,
    OUR_NUMBER,
    AppSide,
    CarrierUnderTest,
    loud_ms,
    make_settings,
    tone_pcm,
)

STREAM_SID = re.compile(r"^MZ[0-9a-f]{32}$")


def connect_twiml(app_side: AppSide, after: str = "", **parameters: str) -> str:
    params = "".join(f'<Parameter name="{k}" value="{v}"/>' for k, v in parameters.items())
    status = app_side.url("/stream-status")
    return (
        f'<Response><Connect><Stream url="{app_side.ws_url()}" statusCallback="{status}">'
        f"{params}</Stream></Connect>{after}</Response>"
    )


def place(carrier: Carrier, app_side: AppSide, twiml: str, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "to": CALLEE,
        "from_": OUR_NUMBER,
        "url": None,
        "method": "POST",
        "twiml": twiml,
        "status_callback": app_side.url("/status"),
        "status_callback_method": "POST",
        "events": frozenset({"completed"}),
        "timeout_s": 5.0,
        "time_limit_s": 20.0,
        "machine_detection": None,
    }
    values.update(overrides)
    return carrier.place_call(CallRequest(**values)).sid


async def handshake(ws: web.WebSocketResponse) -> tuple[dict[str, Any], dict[str, Any]]:
    return await ws.receive_json(), await ws.receive_json()


async def next_event(ws: web.WebSocketResponse, event: str) -> dict[str, Any]:
    """Skip caller media until `event` arrives."""
    while True:
        message = await ws.receive_json()
        if message["event"] == event:
            return message


def media(sid: str, mulaw: bytes) -> dict[str, Any]:
    return {"event": "media", "streamSid": sid, "media": {"payload": base64.b64encode(mulaw).decode()}}


async def test_protocol_messages_and_caller_frame_rate(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    seen: dict[str, Any] = {}

    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        seen["connected"], seen["start"] = await handshake(ws)
        frames: list[tuple[float, dict[str, Any]]] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + 1.2
        while loop.time() < end:
            frames.append((loop.time(), await ws.receive_json()))
        seen["frames"] = frames

    app_side.stream_handler = handler
    sid = place(carrier.carrier, app_side, connect_twiml(app_side, "<Say>after the stream</Say>", token="t-1", x="y"))
    report = await carrier.carrier.wait_finished(sid, 10)

    assert seen["connected"] == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = seen["start"]
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert STREAM_SID.match(start["streamSid"]) and start["start"]["streamSid"] == start["streamSid"]
    assert start["start"] == {
        "accountSid": carrier.carrier.settings.account_sid,
        "streamSid": start["streamSid"],
        "callSid": sid,
        "tracks": ["inbound"],
        "customParameters": {"token": "t-1", "x": "y"},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    frames = [m for _, m in seen["frames"]]
    assert all(m["event"] == "media" and m["streamSid"] == start["streamSid"] for m in frames)
    for n, message in enumerate(frames):
        assert message["sequenceNumber"] == str(n + 2)
        assert message["media"]["chunk"] == str(n + 1)
        assert message["media"]["timestamp"] == str(20 * n)
        assert message["media"]["track"] == "inbound"
        assert len(base64.b64decode(message["media"]["payload"])) == 160
    times = [t for t, _ in seen["frames"]]
    in_one_second = sum(times[10] <= t < times[10] + 1.0 for t in times)
    assert 48 <= in_one_second <= 52

    (headers,) = app_side.upgrade_headers
    signature = {k.lower(): v for k, v in headers.items()}["x-twilio-signature"]
    assert RequestValidator(AUTH_TOKEN).validate(app_side.ws_url(), {}, signature)
    assert report.streams[0].ended_by == "server" and report.said == ["after the stream"]
    assert report.status == "completed"
    events = [h.params["StreamEvent"] for h in app_side.on("/stream-status")]
    assert events == ["stream-started", "stream-stopped"]
    assert all(h.signature_valid for h in app_side.hits)


async def test_marks_wait_for_playback_and_clear_flushes(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    timings: dict[str, float] = {}
    tone = mulaw_encode(tone_pcm(2.0))

    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        _, start = await handshake(ws)
        sid = start["streamSid"]
        loop = asyncio.get_running_loop()
        await ws.send_json(media(sid, tone[:4000]))  # 0.5 s
        await ws.send_json({"event": "mark", "streamSid": sid, "mark": {"name": "first"}})
        sent = loop.time()
        echo = await next_event(ws, "mark")
        timings["first"] = loop.time() - sent
        assert echo["mark"] == {"name": "first"} and echo["streamSid"] == sid
        assert isinstance(echo["sequenceNumber"], str)

        await ws.send_json(media(sid, tone))  # 2 s more, then barge-in after 0.3 s
        await ws.send_json({"event": "mark", "streamSid": sid, "mark": {"name": "second"}})
        await asyncio.sleep(0.3)
        await ws.send_json({"event": "clear", "streamSid": sid})
        cleared = loop.time()
        echo = await next_event(ws, "mark")
        timings["second"] = loop.time() - cleared
        assert echo["mark"]["name"] == "second"

        await ws.send_json({"event": "mark", "streamSid": sid, "mark": {"name": "idle"}})
        sent = loop.time()
        await next_event(ws, "mark")
        timings["idle"] = loop.time() - sent

    app_side.stream_handler = handler
    sid = place(carrier.carrier, app_side, connect_twiml(app_side))
    report = await carrier.carrier.wait_finished(sid, 10)
    stream = report.streams[0]

    assert 0.48 <= timings["first"] <= 0.6, timings
    assert timings["second"] < 0.05 and timings["idle"] < 0.05, timings
    assert [(m.name, m.flushed) for m in stream.marks] == [
        ("first", False),
        ("second", True),
        ("idle", False),
    ]
    assert abs(stream.marks[0].played_ms - 500) <= 1
    assert 1550 <= stream.clears[0].dropped_ms <= 1800 and stream.clears[0].flushed_marks == ["second"]
    assert 750 <= stream.played_ms <= 880 and stream.played_ms == report.heard_ms
    assert abs(loud_ms(report.heard_pcm) - stream.played_ms) <= 60  # the tone stops at the clear
    assert stream.invalid_messages == 0 and stream.media_received == 2


async def test_invalid_server_messages_are_counted_not_fatal(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        _, start = await handshake(ws)
        sid = start["streamSid"]
        await ws.send_str("not json")
        await ws.send_json({"event": "bogus", "streamSid": sid})
        await ws.send_json({"event": "media", "streamSid": sid, "media": {"payload": "!!not base64!!"}})
        await ws.send_json(media("MZwrong", b"\xff" * 160))
        await ws.send_bytes(b"\x00\x01")
        await ws.send_json({"event": "mark", "streamSid": sid, "mark": {"name": "alive"}})
        assert (await next_event(ws, "mark"))["mark"]["name"] == "alive"

    app_side.stream_handler = handler
    sid = place(carrier.carrier, app_side, connect_twiml(app_side))
    report = await carrier.carrier.wait_finished(sid, 10)
    assert report.streams[0].invalid_messages == 5 and report.status == "completed"
    assert [m.name for m in report.streams[0].marks] == ["alive"]


async def test_caller_script_audio_dtmf_and_hangup(
    carrier: CarrierUnderTest, app_side: AppSide, tmp_path: Path
) -> None:
    wav_path = tmp_path / "hello.wav"
    stereo = np.repeat(np.frombuffer(tone_pcm(0.4, rate_hz=22050, freq_hz=300), dtype="<i2"), 2)
    with wave.open(str(wav_path), "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(22050)
        wav.writeframes(stereo.tobytes())
    carrier.carrier.set_scenario(
        CALLEE,
        Scenario(
            script=(
                Wait(0.2),
                PlayPcm(tone_pcm(0.3, rate_hz=16000), 16000),
                Dtmf("5"),
                PlayWav(wav_path),
                HangUp(),
            )
        ),
    )
    received: list[dict[str, Any]] = []

    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                received.append(json.loads(message.data))

    app_side.stream_handler = handler
    sid = place(carrier.carrier, app_side, connect_twiml(app_side, "<Say>unreachable</Say>"))
    report = await carrier.carrier.wait_finished(sid, 10)

    events = [m["event"] for m in received]
    assert events[:2] == ["connected", "start"] and events[-1] == "stop"
    (dtmf,) = [m for m in received if m["event"] == "dtmf"]
    assert dtmf["dtmf"] == {"track": "inbound_track", "digit": "5"} and isinstance(dtmf["sequenceNumber"], str)
    stop = received[-1]
    assert stop["stop"] == {"accountSid": carrier.carrier.settings.account_sid, "callSid": sid}
    assert [int(m["sequenceNumber"]) for m in received[1:]] == list(range(1, len(received)))
    frames = [m for m in received if m["event"] == "media"]
    assert len(frames) == 10 + 15 + 20  # wait, 0.3 s, 0.4 s: every step whole 20 ms frames
    caller_audio = b"".join(mulaw_decode(base64.b64decode(m["media"]["payload"])) for m in frames)
    assert 680 <= loud_ms(caller_audio) <= 720
    assert events.index("dtmf") == 2 + 25  # after the PCM clip's frames, before the WAV's
    assert report.streams[0].ended_by == "phone" and report.said == [] and report.status == "completed"
    with wave.open(str(report.recordings["caller"]), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert wav.getnframes() == 45 * 160


async def test_rest_hangup_mid_stream_sends_stop(carrier: CarrierUnderTest, app_side: AppSide) -> None:
    got: dict[str, Any] = {}
    started = asyncio.Event()

    async def handler(ws: web.WebSocketResponse, request: web.Request) -> None:
        await handshake(ws)
        started.set()
        got["stop"] = await next_event(ws, "stop")
        got["close"] = (await ws.receive()).type

    app_side.stream_handler = handler
    sid = place(carrier.carrier, app_side, connect_twiml(app_side, "<Say>never</Say>"))
    async with asyncio.timeout(5):
        await started.wait()
    hung_up = await asyncio.to_thread(carrier.sdk().calls(sid).update, status="completed")
    assert hung_up.status == "completed"
    report = await carrier.carrier.wait_finished(sid, 5)
    await app_side.wait_for(lambda: len(app_side.on("/status")) == 1)
    assert got["stop"]["stop"]["callSid"] == sid and got["close"] is WSMsgType.CLOSE
    assert report.streams[0].ended_by == "call" and report.said == []
    assert app_side.on("/status")[0].params["CallStatus"] == "completed"


async def test_insecure_and_query_stream_urls_are_refused(tmp_path: Path, app_side: AppSide) -> None:
    async with Carrier(make_settings(tmp_path, allow_insecure_ws=False)) as carrier:
        sid = place(carrier, app_side, connect_twiml(app_side, "<Say>fallback</Say>"))
        report = await carrier.wait_finished(sid, 5)
    assert [e.code for e in report.errors] == [31922]
    assert report.said == ["fallback"] and report.status == "completed" and app_side.upgrade_headers == []
    assert [h.params["StreamEvent"] for h in app_side.on("/stream-status")] == ["stream-error"]

    async with Carrier(make_settings(tmp_path)) as carrier:
        twiml = f'<Response><Connect><Stream url="{app_side.ws_url()}?token=x"/></Connect></Response>'
        report = await carrier.wait_finished(place(carrier, app_side, twiml), 5)
        refused = await carrier.wait_finished(
            place(carrier, app_side, connect_twiml(app_side).replace("/stream", "/missing")), 5
        )
    assert [e.code for e in report.errors] == [31920] and app_side.upgrade_headers == []
    assert [e.code for e in refused.errors] == [31920] and refused.status == "completed"
