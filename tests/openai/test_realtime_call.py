"""RealtimeCall end to end: a Twilio media stream (TwilioTransport on a real aiohttp websocket) on one
side, the fake Realtime endpoint (real `websockets` client) on the other.

The test plays both far ends: a phone speaking Twilio's protocol (it sends the caller's frames, keeps
what it hears, and echoes marks as it "plays" them, or holds them to stand for audio still playing), and
the model, through the fake's `push` of server events. Records go to a list-backed CallLog.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from media.call import CallLines, CallPlan, CallSettings, CallUsage, Utterance
from media.pacer import PacerSettings
from media.realtime_call import RealtimeCall
from media.realtime_openai import RealtimeSession, RealtimeSettings
from media.turns import TurnSettings
from media.twilio_transport import TwilioTransport
from media.vad import VadSettings
from tests.openai.fake_openai import FakeOpenAi

SETTINGS = CallSettings(
    turns=TurnSettings(300, 400, 150, 350, 300),
    vad=VadSettings("silero", 0.5, 3),
    pacer=PacerSettings(lead_ms=160.0),
    lines=CallLines("Sorry?", "Still there?", "Bye!", "Almost out of time.", "Out of time, bye!", "Bye for now."),
    first_token_timeout_s=5.0,
    stt_timeout_s=5.0,
    tts_timeout_s=5.0,
    idle_prompt_s=60.0,
    idle_hangup_s=60.0,
    time_warning_s=30.0,
    min_transcript_chars=2,
)
PLAN = CallPlan(
    system_prompt="You are Brad.",
    opening_instruction="Greet the caller.",
    opening_fallback="Hi!",
    voice={"openai": "marin"},
    temperature=0.7,
    max_tokens=150,
    time_limit_s=600.0,
)
STREAM_SID = "MZ" + "0" * 32


def ulaw_tone(ms: int, seed: int = 1) -> bytes:
    """Mu-law bytes with no 0x7F (mu-law's "negative zero", which PCM cannot tell from 0xFF)."""
    return bytes(v if v != 0x7F else 0x7E for v in ((seed * 31 + i * 7) % 256 for i in range(8 * ms)))


@dataclass
class ListLog:
    utterances: list[Utterance] = field(default_factory=list)
    digits: list[str] = field(default_factory=list)
    usages: list[CallUsage] = field(default_factory=list)

    def utterance(self, utterance: Utterance) -> None:
        self.utterances.append(utterance)

    def digit(self, digit: str) -> None:
        self.digits.append(digit)

    def usage(self, usage: CallUsage) -> None:
        self.usages.append(usage)


@dataclass
class Phone:
    """Twilio's side of the media stream: echoes marks unless holding them (audio still playing)."""

    ws: aiohttp.ClientWebSocketResponse
    heard: bytearray = field(default_factory=bytearray)
    frames: list[bytes] = field(default_factory=list)
    echoed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    clears: list[int] = field(default_factory=list)  # frames heard when each clear came
    echo_limit: int | None = None  # hold marks beyond this many
    sequence: int = 0

    async def send(self, event: dict[str, Any]) -> None:
        self.sequence += 1
        await self.ws.send_str(json.dumps({**event, "sequenceNumber": str(self.sequence)}))

    async def start(self) -> None:
        await self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        start = {
            "streamSid": STREAM_SID,
            "accountSid": "AC" + "1" * 32,
            "callSid": "CA" + "2" * 32,
            "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self.send({"event": "start", "streamSid": STREAM_SID, "start": start})

    async def say(self, ulaw: bytes) -> None:
        for i in range(0, len(ulaw), 160):
            payload = base64.b64encode(ulaw[i : i + 160]).decode()
            await self.send({"event": "media", "streamSid": STREAM_SID, "media": {"payload": payload}})

    async def listen(self) -> None:
        async for message in self.ws:
            event = json.loads(message.data)
            if event["event"] == "media":
                frame = base64.b64decode(event["media"]["payload"])
                self.frames.append(frame)
                self.heard += frame
            elif event["event"] == "mark":
                name = event["mark"]["name"]
                if self.echo_limit is not None and len(self.echoed) >= self.echo_limit:
                    self.held.append(name)
                else:
                    await self.echo(name)
            elif event["event"] == "clear":
                self.clears.append(len(self.frames))
                for name in self.held:  # Twilio echoes every pending mark on a clear
                    await self.echo(name)
                self.held.clear()

    async def echo(self, name: str) -> None:
        self.echoed.append(name)
        await self.send({"event": "mark", "streamSid": STREAM_SID, "mark": {"name": name}})

    async def hang_up(self) -> None:
        await self.send({"event": "stop", "streamSid": STREAM_SID, "stop": {}})
        await self.ws.close()


@dataclass
class Line:
    phone: Phone
    call: RealtimeCall
    log: ListLog
    done: asyncio.Event


@pytest.fixture
async def line(
    request: pytest.FixtureRequest, fake_openai: FakeOpenAi, realtime_settings: Callable[..., RealtimeSettings]
) -> AsyncIterator[Line]:
    """A live call; `@pytest.mark.parametrize("line", [settings], indirect=True)` gives it other CallSettings."""
    call_settings = getattr(request, "param", SETTINGS)
    log = ListLog()
    calls: list[RealtimeCall] = []
    done = asyncio.Event()
    ready = asyncio.Event()

    async def media(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        transport = TwilioTransport(ws, max_violations=5)
        await transport.handshake(5.0)
        session = RealtimeSession(realtime_settings(), instructions=PLAN.system_prompt)
        call = RealtimeCall(transport, session, call_settings, PLAN, log)
        calls.append(call)
        ready.set()
        try:
            await call.run()
        finally:
            done.set()
        return ws

    app = web.Application()
    app.router.add_get("/media", media)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as client, client.ws_connect(server.make_url("/media")) as ws:
        phone = Phone(ws)
        await phone.start()
        listener = asyncio.create_task(phone.listen())
        await asyncio.wait_for(ready.wait(), 5)
        await until(lambda: any(e["type"] == "response.create" for e in fake_openai.realtime_received))
        yield Line(phone, calls[0], log, done)
        if not ws.closed:
            await phone.hang_up()
        await asyncio.wait_for(done.wait(), 5)
        listener.cancel()
    await server.close()


async def until(condition: Callable[[], object], timeout_s: float = 5.0) -> None:
    """A bounded poll on live state (the events have no hook to await)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


async def speak(fake: FakeOpenAi, item: str, ulaw: bytes, text: str, *, chunk: int = 800) -> None:
    """The model's reply: its transcript and its audio, in chunks, as the Realtime API streams them."""
    await fake.push(
        {"type": "response.output_audio_transcript.delta", "response_id": "r", "item_id": item, "delta": text}
    )
    for i in range(0, len(ulaw), chunk):
        delta = base64.b64encode(ulaw[i : i + chunk]).decode()
        await fake.push({"type": "response.output_audio.delta", "response_id": "r", "item_id": item, "delta": delta})


async def test_reply_plays_byte_for_byte_and_is_recorded_once_heard(fake_openai: FakeOpenAi, line: Line) -> None:
    greeting = ulaw_tone(1000)
    await speak(fake_openai, "item_greeting", greeting, "Hi, it's Brad.")
    usage = {"input_tokens": 40, "output_tokens": 25}
    await fake_openai.push({"type": "response.done", "response": {"id": "r", "status": "completed", "usage": usage}})
    await until(lambda: line.log.utterances)

    assert bytes(line.phone.heard) == greeting  # mu-law in, the same mu-law out: no resampling, no transcoding
    assert all(len(frame) == 160 for frame in line.phone.frames)
    assert len(line.phone.echoed) == 5  # a mark every 200 ms
    persona = line.log.utterances[0]
    assert (persona.role, persona.text, persona.heard_text, persona.interrupted) == (
        "persona",
        "Hi, it's Brad.",
        "Hi, it's Brad.",
        False,
    )
    assert line.log.usages[-1].llm_tokens_in == 40 and line.log.usages[-1].llm_tokens_out == 25

    # The caller's audio reaches the model unchanged, and their words are recorded from its transcription.
    fake_openai.assistant_item = "item_echo"  # the fake answers each append with the same audio: not a turn
    caller = ulaw_tone(200, seed=3)
    await line.phone.say(caller)
    await until(lambda: sum(e["type"] == "input_audio_buffer.append" for e in fake_openai.realtime_received) == 10)
    appended = b"".join(
        base64.b64decode(e["audio"]) for e in fake_openai.realtime_received if e["type"] == "input_audio_buffer.append"
    )
    assert appended == caller
    await fake_openai.push(
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "c1", "transcript": "Hi Brad."}
    )
    await until(lambda: len(line.log.utterances) == 2)
    assert (line.log.utterances[1].role, line.log.utterances[1].text) == ("caller", "Hi Brad.")


async def test_barge_in_clears_truncates_to_what_was_heard_and_drops_the_rest(
    fake_openai: FakeOpenAi, line: Line
) -> None:
    line.phone.echo_limit = 3  # the phone has played 600 ms when the caller cuts in
    words = "one two three four five six seven eight nine ten"
    await speak(fake_openai, "item_long", ulaw_tone(2000), words)
    await until(lambda: len(line.phone.echoed) == 3 and len(line.phone.held) >= 1)
    await asyncio.sleep(0.05)  # the third echo reaches the server
    await fake_openai.push({"type": "input_audio_buffer.speech_started", "item_id": "c1", "audio_start_ms": 5000})
    await until(lambda: any(e["type"] == "conversation.item.truncate" for e in fake_openai.realtime_received))

    truncate = next(e for e in fake_openai.realtime_received if e["type"] == "conversation.item.truncate")
    assert (truncate["item_id"], truncate["audio_end_ms"]) == ("item_long", 600)
    assert fake_openai.problems == []  # within the audio the server generated
    assert len(line.phone.clears) == 1
    frames_at_clear = line.phone.clears[0]
    # The rest of the cut reply, still in flight from the server, is never played.
    await speak(fake_openai, "item_long", ulaw_tone(400, seed=9), "")
    await fake_openai.push({"type": "response.done", "response": {"id": "r", "status": "cancelled"}})
    await asyncio.sleep(0.3)
    assert len(line.phone.frames) == frames_at_clear
    persona = line.log.utterances[0]
    assert (persona.text, persona.heard_text, persona.interrupted) == (words, "one two three", True)
    assert line.call.barge_ins == 1


async def test_end_call_after_goodbye_hangs_up_once_the_farewell_played(fake_openai: FakeOpenAi, line: Line) -> None:
    await fake_openai.push(
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "c1", "transcript": "Okay, bye!"}
    )
    await speak(fake_openai, "item_bye", ulaw_tone(400), "Bye, talk soon.")
    await fake_openai.push(
        {
            "type": "response.function_call_arguments.done",
            "response_id": "r",
            "item_id": "f1",
            "call_id": "call_1",
            "name": "end_call",
            "arguments": "{}",
        }
    )
    await fake_openai.push({"type": "response.done", "response": {"id": "r", "status": "completed"}})
    await asyncio.wait_for(line.done.wait(), 5)

    assert line.call.ended_by == "persona"
    assert len(line.phone.heard) == 8 * 400  # the whole farewell played before the hang-up
    assert [(u.role, u.text, u.heard_text) for u in line.log.utterances] == [
        ("caller", "Okay, bye!", None),
        ("persona", "Bye, talk soon.", "Bye, talk soon."),
    ]
    output = next(e for e in fake_openai.realtime_received if e["type"] == "conversation.item.create")
    assert output["item"] == {"type": "function_call_output", "call_id": "call_1", "output": '{"ended": true}'}


async def test_shutdown_hang_up_has_the_model_say_the_line_then_closes(fake_openai: FakeOpenAi, line: Line) -> None:
    await line.call.hang_up("Bye for now.")
    await asyncio.wait_for(line.done.wait(), 5)  # the fake answers response.create with a finished response

    asked = [e for e in fake_openai.realtime_received if e["type"] == "response.create"]
    assert asked[-1]["response"]["instructions"] == 'Say exactly this and nothing else: "Bye for now."'
    assert line.call.ended_by == "persona"


@pytest.mark.parametrize("line", [replace(SETTINGS, idle_prompt_s=0.5, idle_hangup_s=1.0)], indirect=True)
async def test_silence_gets_still_there_then_goodbye(fake_openai: FakeOpenAi, line: Line) -> None:
    await asyncio.wait_for(line.done.wait(), 5)  # the fake finishes each response at once, with no audio

    asked = [e["response"].get("instructions") for e in fake_openai.realtime_received if e["type"] == "response.create"]
    assert asked == [
        None,  # the greeting, written under the session's instructions (the persona's prompt)
        'Say exactly this and nothing else: "Still there?"',
        'Say exactly this and nothing else: "Bye!"',
    ]
    assert line.call.ended_by == "persona"
