"""The media websocket as an attacker or a broken peer sees it: signed upgrade, one-time token, malformed frames."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import re
import uuid
from pathlib import Path

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from db import calls as call_queries
from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from orchestrator.keys import POOL, RECORDER
from tests.api.users import sign_up
from tests.scripted_engines import scripted_engines
from tests.telephony.test_outbound_call import wait_for_call_end

FIXTURES = Path(__file__).resolve().parent.parent / "media" / "fixtures"
POLICY = aiohttp.WSCloseCode.POLICY_VIOLATION


def _tuned(settings):
    call = dataclasses.replace(settings.call, stream_start_timeout_s=0.5, max_stream_violations=8)
    return dataclasses.replace(settings, call=call)


@pytest.fixture(scope="module")
async def media_server(make_phone_server):
    return await make_phone_server(tune=_tuned)


def _sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def _ws_url(server) -> str:
    return "ws" + server.base_url.removeprefix("http") + "/twilio/media"


async def _connect(server, *, signed: bool = True) -> aiohttp.ClientWebSocketResponse:
    url = _ws_url(server)
    token = server.settings.carrier.auth_token.reveal()
    headers = {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, {})} if signed else {}
    # Like Twilio (and the local carrier), no permessage-deflate.
    return await server.client.session.ws_connect(url, headers=headers, compress=0)


async def _new_call(server) -> uuid.UUID:
    user = await sign_up(server.client)
    row = await call_queries.insert_call(
        server.client.app[POOL],
        user_id=uuid.UUID(user.user["id"]),
        persona_id="brad",
        direction="outbound",
        to_number="+14155550123",
    )
    return row["id"]


async def _answer(server, call_id: uuid.UUID, call_sid: str) -> str:
    """POST the signed answer webhook; the stream token from the TwiML's <Parameter>."""
    response = await server.post_signed(f"/twilio/voice?call={call_id}", {"CallSid": call_sid})
    assert response.status == 200
    twiml = await response.text()
    assert f'<Parameter name="call_id" value="{call_id}"' in twiml
    return re.search(r'<Parameter name="token" value="([^"]+)"', twiml).group(1)


def _start(stream_sid: str, call_sid: str, parameters: dict[str, str]) -> str:
    return json.dumps(
        {
            "event": "start",
            "sequenceNumber": "1",
            "streamSid": stream_sid,
            "start": {
                "accountSid": "AC" + "1" * 32,
                "streamSid": stream_sid,
                "callSid": call_sid,
                "tracks": ["inbound"],
                "customParameters": parameters,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


async def _open_stream(server, call_id: uuid.UUID, call_sid: str, token: str):
    ws = await _connect(server)
    stream_sid = _sid("MZ")
    await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send_str(_start(stream_sid, call_sid, {"call_id": str(call_id), "token": token}))
    return ws, stream_sid


async def _closed_with(ws, timeout_s: float = 5.0) -> tuple[int | None, str]:
    """Read until the server closes; the close code and reason."""
    async with asyncio.timeout(timeout_s):
        while True:
            message = await ws.receive()
            if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                return ws.close_code, str(message.extra or "")


async def _first_media(ws, timeout_s: float = 5.0) -> dict:
    async with asyncio.timeout(timeout_s):
        while True:
            message = await ws.receive()
            assert message.type == aiohttp.WSMsgType.TEXT, message
            data = json.loads(message.data)
            if data["event"] == "media":
                return data


async def _still_open(ws, quiet_s: float = 0.3) -> bool:
    """Drain what the server sent; False if it closed the stream."""
    try:
        async with asyncio.timeout(quiet_s):
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    return False
    except TimeoutError:
        return True


async def test_unsigned_or_forged_upgrade_is_403(media_server) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await _connect(media_server, signed=False)
    assert refused.value.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as forged:
        await media_server.client.session.ws_connect(
            _ws_url(media_server), headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
        )
    assert forged.value.status == 403


async def test_token_is_accepted_once(media_server) -> None:
    call_id, call_sid = await _new_call(media_server), _sid("CA")
    token = await _answer(media_server, call_id, call_sid)
    ws, stream_sid = await _open_stream(media_server, call_id, call_sid, token)
    greeting = await _first_media(ws)  # accepted: the persona starts talking
    assert greeting["streamSid"] == stream_sid and base64.b64decode(greeting["media"]["payload"])

    replay, _ = await _open_stream(media_server, call_id, call_sid, token)
    code, reason = await _closed_with(replay)
    assert code == POLICY and "already used" in reason
    assert await _still_open(ws)  # the replay did not disturb the real stream
    await ws.send_str(json.dumps({"event": "stop", "sequenceNumber": "2", "streamSid": stream_sid, "stop": {}}))
    await _closed_with(ws)


async def test_token_bound_to_its_call_and_call_sid_and_expiry(media_server) -> None:
    pool = media_server.client.app[POOL]
    call_id, other_call, call_sid = await _new_call(media_server), await _new_call(media_server), _sid("CA")
    token = await _answer(media_server, call_id, call_sid)
    cases = [
        ("another call", other_call, call_sid, token, "another call"),
        ("another CallSid", call_id, _sid("CA"), token, "another CallSid"),
        ("unknown token", call_id, call_sid, "x" * 43, "unknown token"),
    ]
    for label, cid, sid, tok, why in cases:
        ws, _ = await _open_stream(media_server, cid, sid, tok)
        code, reason = await _closed_with(ws)
        assert code == POLICY and why in reason, label
    # The failed attempts did not burn the token: it is still good, until it expires.
    await pool.execute("UPDATE stream_tokens SET expires_at = now() - interval '1 second' WHERE call_id = $1", call_id)
    ws, _ = await _open_stream(media_server, call_id, call_sid, token)
    code, reason = await _closed_with(ws)
    assert code == POLICY and "expired" in reason
    assert await pool.fetchval("SELECT used_at FROM stream_tokens WHERE call_id = $1", call_id) is None


async def test_no_start_in_time_or_garbage_first_is_closed(media_server) -> None:
    ws = await _connect(media_server)
    await ws.send_str(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    code, reason = await _closed_with(ws)
    assert code == POLICY and "no start" in reason

    for garbage in ("{{{not json", json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": ""}})):
        ws = await _connect(media_server)
        await ws.send_str(garbage)
        code, reason = await _closed_with(ws)
        assert code == POLICY and reason, garbage
    ws = await _connect(media_server)
    await ws.send_bytes(b"\x00\x01")
    code, reason = await _closed_with(ws)
    assert code == POLICY and "binary" in reason
    # Start without the binding parameters.
    ws = await _connect(media_server)
    await ws.send_str(_start(_sid("MZ"), _sid("CA"), {}))
    code, reason = await _closed_with(ws)
    assert code == POLICY and "call_id or token" in reason


def _media(stream_sid: str, seq: object, payload: object = "f" * 212, **extra: object) -> str:
    return json.dumps(
        {
            "event": "media",
            "sequenceNumber": seq,
            "streamSid": stream_sid,
            "media": {"track": "inbound", "chunk": "1", "timestamp": "20", "payload": payload, **extra},
        }
    )


async def test_malformed_streams_are_closed_while_a_good_call_goes_on(make_phone_server) -> None:
    engines, _stt, _tts, _llm = scripted_engines(transcripts=["Call me back later please."])
    server = await make_phone_server(engines=engines, tune=_tuned)
    user = await server.verified_user("+14155550241")
    server.carrier.set_scenario(
        "+14155550241",
        Scenario(ring_s=0.2, script=(Wait(2.5), PlayWav(FIXTURES / "call_me_back.wav"), Wait(3.0), HangUp())),
    )
    response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
    assert response.status == 202
    good_id = (await response.json())["id"]

    # A noisy stream: each kind of malformed frame is dropped, the stream lives until the limit is passed.
    call_id, call_sid = await _new_call(server), _sid("CA")
    ws, stream_sid = await _open_stream(server, call_id, call_sid, await _answer(server, call_id, call_sid))
    await _first_media(ws)
    bad = [
        "not json at all",
        json.dumps([1, 2, 3]),
        _media(stream_sid, 5),  # sequenceNumber must be a string
        _media(stream_sid, "6", payload=12345),
        _media(stream_sid, "7", payload="!!!not base64!!!"),
        json.dumps({"event": "wiggle", "sequenceNumber": "8", "streamSid": stream_sid}),
        _media(stream_sid, "9", payload="A" * 20_000),  # far more than a 20 ms frame
        _media(_sid("MZ"), "10"),  # another stream's sid
    ]
    await ws.send_str(_media(stream_sid, "20"))  # a good frame
    await ws.send_str(_media(stream_sid, "3"))  # out of order
    for text in bad[:7]:
        await ws.send_str(text)
    assert await _still_open(ws), "closed before max_stream_violations was passed"
    for text in [*bad[7:], _media(stream_sid, "2")]:
        await ws.send_str(text)
    code, reason = await _closed_with(ws)
    assert code == POLICY and "too many malformed" in reason

    # A binary frame ends a stream at once.
    call_id, call_sid = await _new_call(server), _sid("CA")
    ws, _ = await _open_stream(server, call_id, call_sid, await _answer(server, call_id, call_sid))
    await _first_media(ws)
    await ws.send_bytes(b"\xff" * 160)
    code, reason = await _closed_with(ws)
    assert code == POLICY and "binary" in reason

    # The server is up and the good call was untouched.
    assert (await server.client.get("/healthz")).status == 200
    call = await wait_for_call_end(server, user, good_id)
    assert call["status"] == "completed" and call["end_reason"] == "completed"
    roles = [turn["role"] for turn in call["transcript"]]
    assert roles[0] == "persona" and "caller" in roles
    assert ("caller", "Call me back later please.") in [(t["role"], t["text"]) for t in call["transcript"]]
    greeting = call["transcript"][0]
    assert greeting["heard_text"] == greeting["text"] and not greeting["interrupted"]
    good = next(
        c.report
        for c in server.carrier.calls()
        if c.report.streams and c.report.streams[0].custom_parameters.get("call_id") == good_id
    )
    assert good.streams[0].invalid_messages == 0 and good.streams[0].ended_by == "phone"
    assert good.heard_ms > 1000


async def test_a_far_end_that_never_echoes_marks_does_not_hang_the_call(make_phone_server) -> None:
    """A client that plays nothing back (no mark echoes): the greeting is recorded as unheard after a
    grace period, and the call carries on (here: the silence prompt follows)."""
    media_server = await make_phone_server(
        tune=lambda s: dataclasses.replace(s, call=dataclasses.replace(s.call, idle_prompt_s=1.0))
    )
    call_id = await _new_call(media_server)
    call_sid = _sid("CA")
    ws, _stream_sid = await _open_stream(
        media_server, call_id, call_sid, await _answer(media_server, call_id, call_sid)
    )
    marks: list[str] = []
    try:
        async with asyncio.timeout(30):
            # The greeting's marks, then a mark of the next reply (the still-there line): the call went on.
            while len({mark.split(".")[0] for mark in marks}) < 2:
                message = await ws.receive()
                assert message.type == aiohttp.WSMsgType.TEXT, message
                data = json.loads(message.data)
                if data["event"] == "mark":
                    marks.append(data["mark"]["name"])
    finally:
        await ws.close()
    pool = media_server.client.app[POOL]
    await media_server.client.app[RECORDER].flush()
    greeting = await pool.fetchrow("SELECT text, heard_text FROM utterances WHERE call_id = $1 AND seq = 0", call_id)
    assert greeting["text"] and greeting["heard_text"] == ""
