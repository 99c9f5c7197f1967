"""The media websocket under a flood of bad streams while one good call runs through the local carrier.

Bad streams are signed upgrades (the signature only proves the URL); half carry a valid one-time token from the
answer webhook, half none. Together they send MESSAGES malformed, oversized, out-of-order, wrong-type, binary
and random frames as fast as they go. The server must stay up, close every bad stream with a reason (1008, or
1009 for a frame over aiohttp's 64 KiB limit), leave the good call's audio untouched and leak no task.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import time
from collections import Counter

import aiohttp

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from tests.scripted_engines import scripted_engines
from tests.telephony.test_media_stream import (
    FIXTURES,
    _answer,
    _connect,
    _media,
    _new_call,
    _open_stream,
    _sid,
    _start,
)
from tests.telephony.test_outbound_call import wait_for_call_end

MESSAGES = 10_000
WORKERS = 6
ALLOWED_CLOSES = {aiohttp.WSCloseCode.POLICY_VIOLATION, aiohttp.WSCloseCode.MESSAGE_TOO_BIG}


def _tuned(settings):
    call = dataclasses.replace(settings.call, stream_start_timeout_s=1.0)
    return dataclasses.replace(settings, call=call)


def _bad_message(rng: random.Random, stream_sid: str, seq: int) -> str | bytes:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 400))  # binary
    if kind == 1:
        return "x" * (64 * 1024 + rng.randrange(1, 1000))  # over the frame limit
    if kind == 2:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randrange(1, 80)))  # random text
    if kind == 3:
        return json.dumps(rng.choice([[1, 2], 3, None, "media", {"event": 5}, {"event": None}]))
    if kind == 4:
        return _media(stream_sid, str(rng.randrange(0, max(seq, 1))))  # out of order
    if kind == 5:
        return _media(stream_sid, seq)  # sequenceNumber not a string
    if kind == 6:
        return _media(stream_sid, str(seq), payload=rng.choice([1, None, [], "!!!", "A" * 20_000]))
    if kind == 7:
        return json.dumps({"event": "mark", "sequenceNumber": str(seq), "streamSid": stream_sid, "mark": 7})
    if kind == 8:
        return json.dumps(
            {"event": "dtmf", "sequenceNumber": str(seq), "streamSid": stream_sid, "dtmf": {"digit": "Z"}}
        )
    if kind == 9:
        return _media(_sid("MZ"), str(seq))  # another stream's sid
    if kind == 10:
        return _start(_sid("MZ"), _sid("CA"), {"call_id": "x", "token": "y"})  # a second start
    return "{" * rng.randrange(1, 5000)  # deep or broken JSON


async def _closed_with(ws, timeout_s: float) -> tuple[int | None, str]:
    """The code and reason of the server's close frame (ws.close_code becomes 1006 when the client's reply to it
    fails on a socket the server already dropped); 1006 if no close frame arrived at all."""
    async with asyncio.timeout(timeout_s):
        while True:
            message = await ws.receive()
            if message.type == aiohttp.WSMsgType.CLOSE:
                return message.data, str(message.extra or "")
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return ws.close_code, ""


async def _bad_stream(server, rng: random.Random, budget: list[int], with_token: bool) -> tuple[int, int | None, str]:
    """One bad stream until the server closes it; (messages sent, close code, reason)."""
    if with_token:
        call_id, call_sid = await _new_call(server), _sid("CA")
        ws, stream_sid = await _open_stream(server, call_id, call_sid, await _answer(server, call_id, call_sid))
    else:
        ws, stream_sid = await _connect(server), _sid("MZ")
    closed = asyncio.create_task(_closed_with(ws, timeout_s=20))
    sent, seq = 0, 2
    try:
        while not closed.done() and budget[0] > 0:
            message = _bad_message(rng, stream_sid, seq)
            seq += 1
            try:
                if isinstance(message, bytes):
                    await ws.send_bytes(message)
                else:
                    await ws.send_str(message)
            except (ConnectionError, RuntimeError):
                break
            sent += 1
            budget[0] -= 1
            await asyncio.sleep(0)
        if budget[0] <= 0 and not closed.done():
            await ws.send_bytes(b"\x00")  # the budget ran out mid-stream: end it the quick way
        code, reason = await closed
    finally:
        closed.cancel()
        await ws.close()
    return sent, code, reason


async def test_bad_streams_beside_a_good_call(make_phone_server) -> None:
    engines, _stt, _tts, _llm = scripted_engines(transcripts=["Call me back later please."])
    server = await make_phone_server(engines=engines, tune=_tuned)
    user = await server.verified_user("+14155550377")
    server.carrier.set_scenario(
        "+14155550377",
        Scenario(ring_s=0.2, script=(Wait(2.5), PlayWav(FIXTURES / "call_me_back.wav"), Wait(3.0), HangUp())),
    )
    tasks_before = len(asyncio.all_tasks())
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202
    good_id = (await response.json())["id"]

    budget, results = [MESSAGES], []
    started = time.monotonic()

    async def worker(index: int) -> None:
        rng = random.Random(index)
        while budget[0] > 0:
            results.append((index % 2 == 0, *await _bad_stream(server, rng, budget, with_token=index % 2 == 0)))

    async with asyncio.timeout(60), asyncio.TaskGroup() as group:
        for index in range(WORKERS):
            group.create_task(worker(index))
    elapsed = time.monotonic() - started
    sent = sum(r[1] for r in results)
    codes = Counter(r[2] for r in results)
    print(
        f"\nmedia fuzz: {sent} messages over {len(results)} streams "
        f"({sum(r[0] for r in results)} with a valid token) in {elapsed:.1f} s; closes by code {dict(codes)}"
    )
    assert sent >= MESSAGES
    # A stream refused at its handshake is dropped while the fuzzer is still writing: the kernel may discard
    # the unread close frame on the reset (1006 with no reason). Every stream that got past the handshake saw it.
    too_big = aiohttp.WSCloseCode.MESSAGE_TOO_BIG  # aiohttp's own close: the code is the reason
    assert all(r[2] in ALLOWED_CLOSES and (r[3] or r[2] == too_big) for r in results if r[0]), codes
    assert set(codes) <= {*ALLOWED_CLOSES, aiohttp.WSCloseCode.ABNORMAL_CLOSURE}, codes
    assert (await server.client.get("/healthz")).status == 200

    call = await wait_for_call_end(server, user, good_id)
    assert call["status"] == "completed" and call["end_reason"] == "completed"
    assert ("caller", "Call me back later please.") in [(t["role"], t["text"]) for t in call["transcript"]]
    greeting = call["transcript"][0]
    assert greeting["role"] == "persona" and greeting["heard_text"] == greeting["text"]
    report = next(
        c.report
        for c in server.carrier.calls()
        if c.report.streams and c.report.streams[0].custom_parameters.get("call_id") == good_id
    )
    stream = report.streams[0]
    print(
        f"good call: heard {report.heard_ms:.0f} ms, played {stream.played_ms:.0f} ms, dry ticks "
        f"{stream.dry_ticks}, late ticks {stream.late_ticks}, max tick late {stream.max_tick_late_ms:.1f} ms"
    )
    assert stream.invalid_messages == 0 and stream.ended_by == "phone"
    assert stream.dry_ticks == 0, "the good call's audio ran dry mid-sentence"
    assert report.heard_ms > 1000

    # Every bad stream's handler has finished: no task outlives the streams.
    await asyncio.sleep(0.5)
    assert len(asyncio.all_tasks()) <= tasks_before + 1, [t.get_coro() for t in asyncio.all_tasks()]


async def test_a_flood_of_good_looking_media_is_closed(make_phone_server) -> None:
    server = await make_phone_server(
        tune=lambda s: dataclasses.replace(s, call=dataclasses.replace(s.call, max_stream_messages_per_s=100))
    )
    call_id, call_sid = await _new_call(server), _sid("CA")
    ws, stream_sid = await _open_stream(server, call_id, call_sid, await _answer(server, call_id, call_sid))
    closed = asyncio.create_task(_closed_with(ws, timeout_s=10))
    seq, started = 2, time.monotonic()
    while not closed.done() and time.monotonic() - started < 8:
        # Valid 20 ms frames at 3x real time (150/s), catching up whatever a busy runner's sleep overshoots.
        while seq - 2 < (time.monotonic() - started) * 150:
            await ws.send_str(_media(stream_sid, str(seq), payload="f" * 212))
            seq += 1
        await asyncio.sleep(1 / 150)
    code, reason = await closed
    elapsed = time.monotonic() - started
    assert code == aiohttp.WSCloseCode.POLICY_VIOLATION and reason == "too many messages"
    assert 1.0 < elapsed < 4.0, elapsed  # over the limit for 2 s running, not at the first burst

    # Real time (50/s) is never cut off.
    call_id, call_sid = await _new_call(server), _sid("CA")
    ws, stream_sid = await _open_stream(server, call_id, call_sid, await _answer(server, call_id, call_sid))
    closed = asyncio.create_task(_closed_with(ws, timeout_s=10))
    for seq in range(2, 152):
        await ws.send_str(_media(stream_sid, str(seq)))
        await asyncio.sleep(0.02)
    assert not closed.done()
    closed.cancel()
    await ws.close()
