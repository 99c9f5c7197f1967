"""Production engines by configuration: [engines] stt, tts and llm = "openai", through the real SDK.

The OpenAI API is a local server speaking its protocol (tests/openai/fake_openai.py); the call itself is
a real one through the local carrier, so transcription, chat and speech all run on the production path.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestServer

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from tests.openai.fake_openai import API_KEY, FakeOpenAi
from tests.scripted_engines import scripted_engines
from tests.telephony.test_outbound_call import wait_for_call_end

FIXTURES = Path(__file__).resolve().parent.parent / "media" / "fixtures"


async def test_a_call_with_every_engine_on_openai(make_phone_server) -> None:
    fake = FakeOpenAi(transcript_text="Call me back tomorrow morning.", tone_s=0.8, chunk_delay_s=0.0)
    fake_server = TestServer(fake.app(), host="127.0.0.1")
    await fake_server.start_server()
    fake.base_url = str(fake_server.make_url("/v1"))
    try:

        def openai_everywhere(settings):
            engines = replace(settings.engines, stt="openai", tts="openai", llm="openai")
            openai = replace(settings.openai, base_url=fake.base_url, api_key=type(settings.auth.jwt_secret)(API_KEY))
            return replace(settings, engines=engines, openai=openai)

        server = await make_phone_server(engines="configured", tune=openai_everywhere)
        user = await server.verified_user("+14155550161")
        script = (Wait(2.5), PlayWav(FIXTURES / "call_me_back.wav"), Wait(3.0), HangUp())
        server.carrier.set_scenario("+14155550161", Scenario(ring_s=0.1, script=script))
        response = await user.request("POST", "/api/calls", json={"persona_id": "sarah"})
        assert response.status == 202
        call = await wait_for_call_end(server, user, (await response.json())["id"])
    finally:
        fake.released.set()
        await fake_server.close()

    turns = [(turn["role"], turn["text"], turn["heard_text"]) for turn in call["transcript"]]
    greeting = "Hi Jordan, it's Sarah! How are you doing?"  # Sarah's own, spoken by the OpenAI voice
    assert turns[:3] == [
        ("persona", greeting, greeting),
        ("caller", "Call me back tomorrow morning.", None),
        ("persona", fake.chat_reply, fake.chat_reply),
    ]
    # Chat: the persona's own numbers, its system prompt, streamed.
    first = fake.chat_requests[0]
    assert first["model"] == "gpt-4o-mini" and first["temperature"] == 0.7 and first["max_tokens"] == 150
    assert first["messages"][0]["role"] == "system" and "You are Sarah" in first["messages"][0]["content"]
    # Speech: Sarah's OpenAI voice and instructions from her persona, raw pcm.
    assert fake.speech_requests and all(
        r["voice"] == "coral" and r["response_format"] == "pcm" for r in fake.speech_requests
    )
    assert "Warm" in fake.speech_requests[0]["instructions"]
    # Transcription: the caller's utterance as a WAV.
    assert fake.transcriptions and fake.transcriptions[0]["model"] == "gpt-4o-mini-transcribe"
    assert 1.0 < fake.transcriptions[0]["audio"].duration_ms / 1000 < 4.0


async def test_a_call_on_the_realtime_engine(make_phone_server) -> None:
    """[engines] mode = "realtime": the call runs through an OpenAI Realtime session (the fake endpoint,
    driven here as the model) with the persona's prompt, voice and tools; the caller's audio streams to
    it, its audio reaches the phone, and both sides' words are in the call's transcript."""
    fake = FakeOpenAi(echo_audio=False)
    fake_server = TestServer(fake.app(), host="127.0.0.1")
    await fake_server.start_server()
    fake.base_url = str(fake_server.make_url("/v1"))
    greeting = "Hi, it's Sarah. How are you?"
    try:
        server = await make_phone_server(tune=realtime_on(fake))
        user = await server.verified_user("+14155550162")
        script = (Wait(2.0), PlayWav(FIXTURES / "call_me_back.wav"), Wait(1.5), HangUp())
        server.carrier.set_scenario("+14155550162", Scenario(ring_s=0.1, script=script))
        response = await user.request("POST", "/api/calls", json={"persona_id": "sarah"})
        assert response.status == 202
        # The model greets (800 ms of audio), then transcribes the caller's line once 2.5 s of their stream came.
        await greet_over_realtime(fake, greeting, audio_ms=800, then_caller_ms=2500)
        transcript = {"type": "conversation.item.input_audio_transcription.completed", "item_id": "c1"}
        await fake.push({**transcript, "transcript": "Call me back tomorrow morning."})
        call = await wait_for_call_end(server, user, (await response.json())["id"])
    finally:
        fake.released.set()
        await fake_server.close()

    turns = [(turn["role"], turn["text"], turn["heard_text"]) for turn in call["transcript"]]
    assert turns == [("persona", greeting, greeting), ("caller", "Call me back tomorrow morning.", None)]
    session = fake.realtime_received[0]["session"]
    assert "You are Sarah" in session["instructions"]
    opening = next(e for e in fake.realtime_received if e["type"] == "response.create")
    assert (
        opening["response"]["instructions"]
        == 'Say exactly this and nothing else: "Hi Jordan, it\'s Sarah! How are you doing?"'
    )
    assert session["audio"]["output"]["voice"] == "coral"  # Sarah's OpenAI voice
    assert {tool["name"] for tool in session["tools"]} >= {"end_call"} and "function" not in session["tools"][0]
    assert appended_bytes(fake) >= 8 * 3000  # the caller's stream, mu-law, from the answer to the hang-up
    assert fake.problems == []


async def test_a_lost_realtime_session_hands_the_call_to_the_pipeline(make_phone_server) -> None:
    """The Realtime connection drops after the greeting: the caller is not hung up on. The pipeline engines
    (scripted here) say the fallback line at once, then hear and answer the caller, knowing the greeting;
    the records go on in order."""
    fake = FakeOpenAi(echo_audio=False)
    fake_server = TestServer(fake.app(), host="127.0.0.1")
    await fake_server.start_server()
    fake.base_url = str(fake_server.make_url("/v1"))
    greeting = "Hi, it's Sarah. How are you?"
    engines, _stt, tts, llm = scripted_engines(transcripts=["Hello? Are you there?"], replies=[["Yes, still here!"]])
    try:
        server = await make_phone_server(engines=engines, tune=realtime_on(fake))
        user = await server.verified_user("+14155550163")
        # The caller speaks once the fallback line (4 s of scripted speech) has played.
        script = (Wait(7.0), PlayWav(FIXTURES / "call_me_back.wav"), Wait(3.0), HangUp())
        server.carrier.set_scenario("+14155550163", Scenario(ring_s=0.1, script=script))
        response = await user.request("POST", "/api/calls", json={"persona_id": "sarah"})
        assert response.status == 202
        await greet_over_realtime(fake, greeting, audio_ms=500, then_caller_ms=1500)  # the greeting has played
        await fake.drop_realtime()
        call = await wait_for_call_end(server, user, (await response.json())["id"])
    finally:
        fake.released.set()
        await fake_server.close()

    fallback = server.settings.call.fallback_line
    turns = [(turn["role"], turn["text"], turn["heard_text"]) for turn in call["transcript"]]
    assert turns == [
        ("persona", greeting, greeting),
        ("persona", fallback, fallback),  # said by the pipeline's voice, right after the loss, and heard
        ("caller", "Hello? Are you there?", None),
        ("persona", "Yes, still here!", "Yes, still here!"),
    ]
    assert call["status"] == "completed" and call["ended_at"] is not None
    # The pipeline's model read the call so far: the greeting, its own apology, then the caller's words.
    [request] = llm.requests
    assert request[-3:] == [
        {"role": "assistant", "content": greeting},
        {"role": "assistant", "content": fallback},
        {"role": "user", "content": "Hello? Are you there?"},
    ]
    assert " ".join(tts.spoken).startswith(fallback)  # in the pipeline's own voice


def realtime_on(fake: FakeOpenAi):
    """Settings tune: [engines] mode = "realtime" against the fake endpoint."""

    def tune(settings):
        openai = replace(settings.openai, base_url=fake.base_url, api_key=type(settings.auth.jwt_secret)(API_KEY))
        return replace(settings, engines=replace(settings.engines, mode="realtime"), openai=openai)

    return tune


async def greet_over_realtime(fake: FakeOpenAi, greeting: str, *, audio_ms: int, then_caller_ms: int) -> None:
    """Once the persona is asked to speak first, the model says `greeting` (`audio_ms` of loud mu-law, in 100 ms
    deltas); returns when `then_caller_ms` of the caller's stream has reached the endpoint."""
    async with asyncio.timeout(10):
        while True:
            if any(e["type"] == "response.create" for e in fake.realtime_received):
                break
            await asyncio.sleep(0.02)
    await fake.push({"type": "response.output_audio_transcript.delta", "item_id": "a1", "delta": greeting})
    audio = base64.b64encode(bytes([0x10, 0x90] * 400)).decode()  # 100 ms of a loud mu-law square wave
    for _ in range(audio_ms // 100):
        await fake.push({"type": "response.output_audio.delta", "response_id": "r1", "item_id": "a1", "delta": audio})
    await fake.push({"type": "response.done", "response": {"id": "r1", "status": "completed"}})
    async with asyncio.timeout(10):
        while True:
            if appended_bytes(fake) >= 8 * then_caller_ms:
                break
            await asyncio.sleep(0.02)


def appended_bytes(fake: FakeOpenAi) -> int:
    """Caller audio the Realtime endpoint received (mu-law bytes)."""
    return sum(
        len(base64.b64decode(e["audio"])) for e in fake.realtime_received if e["type"] == "input_audio_buffer.append"
    )
