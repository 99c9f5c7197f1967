"""Talking to a persona from the browser, through the real server and a real websocket (aiohttp's client
playing the page): POST /api/talk, then /api/talk/ws with its one-time ticket.

The engines are scripted (tests/scripted_engines.py: a tone of 0.25 s per word) and the VAD is the real
silero one, fed real recorded speech resampled to 16 kHz as the page's AudioWorklet would send it. The
fake page echoes each mark once all audio before it has been received (the server paces audio in real
time, so that is when it would have played).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from media.codec import read_wav
from media.resample import resample
from orchestrator.keys import LIVE_CALLS
from tests.api.users import ApiUser, sign_up
from tests.phone_server import PhoneServer
from tests.scripted_engines import ScriptedLanguageModel, ScriptedSpeechToText

SPEECH_WAV = Path(__file__).resolve().parent.parent / "media" / "fixtures" / "call_me_back.wav"
RATE = 16000
FRAME_BYTES = RATE * 2 // 50
CALL_TASKS = {"pacer", "hear", "watch", "talk-notes", "speculative-stt"}


def speech_16k() -> bytes:
    audio = read_wav(SPEECH_WAV)
    return resample(audio.pcm, audio.sample_rate, RATE)


class FakePage:
    """The page's side of the socket: plays (counts) audio, echoes marks, keeps notes and clears."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, *, echo_marks: bool = True) -> None:
        self.ws = ws
        self.echo_marks = echo_marks
        self.audio_bytes = 0
        self.notes: list[dict[str, Any]] = []
        self.marks_echoed: list[str] = []
        self.clears = 0
        self.close_code: int | None = None
        self._changed = asyncio.Event()

    async def run(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.BINARY:
                self.audio_bytes += len(message.data)
            elif message.type is aiohttp.WSMsgType.TEXT:
                note = json.loads(message.data)
                self.notes.append(note)
                if note["type"] == "mark" and self.echo_marks:
                    self.marks_echoed.append(note["name"])
                    await self.ws.send_str(json.dumps({"type": "mark", "name": note["name"]}))
                elif note["type"] == "clear":
                    self.clears += 1
            self._changed.set()
        self.close_code = self.ws.close_code
        self._changed.set()

    def transcript(self, role: str | None = None) -> list[dict[str, Any]]:
        return [n for n in self.notes if n["type"] == "transcript" and role in (None, n["role"])]

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self._changed.clear()
                if self.ws.closed and self.close_code is not None and not condition():
                    raise AssertionError(f"socket closed ({self.close_code}) before the condition held")
                await self._changed.wait()

    async def say(self, pcm: bytes, then_silence_s: float = 1.0) -> None:
        """Send speech then silence as 20 ms frames in real time, like the microphone worklet."""
        pcm += bytes(int(then_silence_s * RATE) * 2)
        for start in range(0, len(pcm), FRAME_BYTES):
            await self.ws.send_bytes(pcm[start : start + FRAME_BYTES])
            await asyncio.sleep(0.02)


def scripted(server: PhoneServer) -> tuple[ScriptedSpeechToText, ScriptedLanguageModel]:
    engines = server.engines
    return engines.stt, engines.llm  # type: ignore[return-value]


GREETING = "Hi Jordan, it's Sarah! How are you doing?"  # Sarah's own greeting, the user's name filled in


async def start_talk(user: ApiUser, persona_id: str = "sarah") -> dict[str, Any]:
    response = await user.request("POST", "/api/talk", json={"persona_id": persona_id})
    assert response.status == 201, await response.text()
    return await response.json()


async def open_page(server: PhoneServer, talk: dict[str, Any], **options: Any) -> tuple[FakePage, asyncio.Task]:
    ws = await server.client.ws_connect(talk["ws_path"])
    page = FakePage(ws, **options)
    return page, asyncio.create_task(page.run())


async def wait_call_over(server: PhoneServer, user: ApiUser, call_id: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            response = await user.request("GET", f"/api/calls/{call_id}")
            call = await response.json()
            if call["status"] == "completed" and not server.client.app[LIVE_CALLS]:
                return call
            await asyncio.sleep(0.1)


async def test_a_whole_talk_session_is_a_browser_call_with_transcript_and_latency(talk_server) -> None:
    stt, llm = scripted(talk_server)
    stt.transcripts.extend(["I would like to talk about my garden."])
    llm.replies.extend([["Gardens are lovely. What grows there?"], ["Tomatoes are the best."]])  # Sarah greets herself
    user = await sign_up(talk_server.client, name="Jordan")
    talk = await start_talk(user)
    assert talk["ws_url"].startswith("ws://127.0.0.1:") and talk["ws_url"].endswith(talk["ws_path"])
    page, reader = await open_page(talk_server, talk)

    await page.wait_for(lambda: bool(page.transcript("persona")))
    assert page.notes[0] == {"type": "hello", "call_id": talk["call_id"], "sample_rate": RATE}
    assert page.audio_bytes >= 8 * 0.25 * RATE * 2 * 0.9  # the greeting's eight words of audio
    assert page.transcript("persona")[0]["heard_text"] == GREETING
    assert page.marks_echoed

    await page.say(speech_16k())  # spoken: VAD -> turn -> STT -> reply
    await page.wait_for(lambda: len(page.transcript("persona")) >= 2)
    await page.ws.send_str(json.dumps({"type": "text", "text": "  I grow   tomatoes. "}))  # typed: no STT
    await page.wait_for(lambda: len(page.transcript("persona")) >= 3)
    await page.ws.send_str(json.dumps({"type": "hangup"}))
    await reader
    assert [(n["role"], n["text"]) for n in page.transcript()] == [
        ("persona", GREETING),
        ("caller", "I would like to talk about my garden."),
        ("persona", "Gardens are lovely. What grows there?"),
        ("caller", "I grow tomatoes."),
        ("persona", "Tomatoes are the best."),
    ]

    call = await wait_call_over(talk_server, user, talk["call_id"])
    assert call["direction"] == "browser" and call["persona_id"] == "sarah"
    assert [event["status"] for event in call["events"]] == ["in-progress", "completed"]
    assert call["answered_at"] and call["ended_at"] and call["duration_s"] >= 1
    assert [(u["role"], u["text"]) for u in call["transcript"]] == [(n["role"], n["text"]) for n in page.transcript()]
    spoken_reply = call["transcript"][2]
    assert spoken_reply["latency_ms"]["first_mark_echoed"] > 0
    assert {"transcript", "llm_first_token", "tts_first_audio"} <= set(spoken_reply["latency_ms"])
    assert call["usage"]["tts_chars"] > 0
    assert {"role": "user", "content": "I grow tomatoes."} in llm.requests[-1]


async def test_barge_in_clears_the_page_and_keeps_what_was_heard(talk_server) -> None:
    stt, llm = scripted(talk_server)
    stt.transcripts.extend(["Wait, stop."])
    long_reply = "This is sentence one. This is sentence two. This is sentence three. This is sentence four."
    llm.replies.extend([["Okay."]])
    user = await sign_up(talk_server.client, name="Jordan")
    talk = await start_talk(user)
    page, reader = await open_page(talk_server, talk)
    await page.wait_for(lambda: bool(page.transcript("persona")))
    llm.replies.appendleft([long_reply])
    await page.ws.send_str(json.dumps({"type": "text", "text": "Tell me a long story."}))
    await page.wait_for(lambda: page.audio_bytes > 2.5 * RATE * 2 + 8 * 0.25 * RATE * 2)  # well into the reply
    await page.say(speech_16k())
    await page.wait_for(lambda: page.clears == 1 and len(page.transcript("persona")) >= 3)
    await page.ws.send_str(json.dumps({"type": "hangup"}))
    await reader

    cut = page.transcript("persona")[1]
    assert cut["text"] == long_reply and cut["interrupted"] is True
    assert cut["heard_text"] and long_reply.startswith(cut["heard_text"]) and cut["heard_text"] != long_reply
    call = await wait_call_over(talk_server, user, talk["call_id"])
    assert call["transcript"][2]["interrupted"] is True  # [opening, typed line, cut reply, "Wait, stop.", ...]
    assert call["transcript"][2]["heard_text"] == cut["heard_text"]


async def test_tickets_are_single_use_bound_and_required(talk_server) -> None:
    user = await sign_up(talk_server.client, name="Jordan")
    talk = await start_talk(user)
    client = talk_server.client
    plain = await client.get(talk["ws_path"])
    assert plain.status == 400 and (await plain.json())["error"]["code"] == "websocket_required"
    other_call = talk["ws_path"].replace(talk["call_id"], str(uuid.uuid4()))
    for path, status in (
        ("/api/talk/ws", 400),
        (f"/api/talk/ws?call={talk['call_id']}&ticket=forged", 403),
        (other_call, 403),
        ("/api/talk/ws?call=not-a-uuid&ticket=x", 400),
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(path)
        assert refused.value.status == status, path
    page, reader = await open_page(talk_server, talk)  # the ticket still works once
    await page.wait_for(lambda: bool(page.notes))
    with pytest.raises(aiohttp.WSServerHandshakeError) as reused:
        await client.ws_connect(talk["ws_path"])
    assert reused.value.status == 403
    await page.ws.close()
    await reader
    await wait_call_over(talk_server, user, talk["call_id"])


async def test_talk_needs_a_visible_persona_and_one_live_call(talk_server) -> None:
    user = await sign_up(talk_server.client, name="Jordan")
    missing = await user.request("POST", "/api/talk", json={"persona_id": "nobody-here"})
    assert missing.status == 404 and (await missing.json())["error"]["field"] == "persona_id"
    unauthenticated = await talk_server.client.post("/api/talk", json={"persona_id": "sarah"})
    assert unauthenticated.status == 401
    bad = await user.request("POST", "/api/talk", json={"persona_id": "sarah", "extra": 1})
    assert bad.status == 400
    talk = await start_talk(user)
    second = await user.request("POST", "/api/talk", json={"persona_id": "sarah"})
    assert second.status == 409  # the first is live until its ticket expires unused
    page, reader = await open_page(talk_server, talk)
    await page.ws.send_str(json.dumps({"type": "hangup"}))
    await reader
    await wait_call_over(talk_server, user, talk["call_id"])
    assert "/api/talk" in (await (await talk_server.client.get("/api/openapi.json")).json())["paths"]


async def test_malformed_messages_are_counted_then_the_stream_is_closed(talk_server) -> None:
    user = await sign_up(talk_server.client, name="Jordan")
    talk = await start_talk(user)
    page, reader = await open_page(talk_server, talk)
    await page.wait_for(lambda: bool(page.notes))
    for bad in ("not json", "[1]", '{"type": "mark"}', '{"type": "text", "text": "   "}', '{"type": "dtmf"}'):
        await page.ws.send_str(bad)
    await page.ws.send_bytes(b"\x01\x02\x03")  # odd length: not PCM16
    await page.ws.send_str(json.dumps({"type": "text", "text": "Still here."}))
    await page.wait_for(lambda: any(n["text"] == "Still here." for n in page.transcript("caller")))
    for _ in range(60):  # over [call] max_stream_violations (50)
        await page.ws.send_str('{"type": "nonsense"}')
    await reader
    assert page.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION
    await wait_call_over(talk_server, user, talk["call_id"])


async def test_hanging_up_leaves_no_task_behind(talk_server) -> None:
    user = await sign_up(talk_server.client, name="Jordan")
    talk = await start_talk(user)
    page, reader = await open_page(talk_server, talk, echo_marks=False)  # marks never echoed: still ends
    await page.wait_for(lambda: page.audio_bytes > 0)
    assert talk_server.client.app[LIVE_CALLS]
    await page.ws.send_str(json.dumps({"type": "hangup"}))
    await reader
    call = await wait_call_over(talk_server, user, talk["call_id"])
    assert call["status"] == "completed"
    leftover = [t.get_name() for t in asyncio.all_tasks() if t.get_name() in CALL_TASKS and not t.done()]
    assert not leftover
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("reply-") and not t.done()]


async def test_a_talk_never_opened_stops_counting_as_live_when_its_ticket_expires(make_phone_server) -> None:
    def short_tickets(settings):
        return replace(settings, telephony=replace(settings.telephony, stream_token_ttl_s=1))

    server = await make_phone_server(tune=short_tickets)
    user = await sign_up(server.client, name="Jordan")
    abandoned = await start_talk(user)  # the tab was closed before the websocket opened
    assert (await user.request("POST", "/api/talk", json={"persona_id": "sarah"})).status == 409
    await asyncio.sleep(1.5)
    fresh = await start_talk(user)
    call = await (await user.request("GET", f"/api/calls/{abandoned['call_id']}")).json()
    assert call["status"] == "canceled" and call["error"] == "the browser never connected"
    with pytest.raises(aiohttp.WSServerHandshakeError) as expired:
        await server.client.ws_connect(abandoned["ws_path"])
    assert expired.value.status == 403
    page, reader = await open_page(server, fresh)
    await page.ws.send_str(json.dumps({"type": "hangup"}))
    await reader
    await wait_call_over(server, user, fresh["call_id"])
