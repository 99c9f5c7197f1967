"""Production engines by configuration: [engines] stt, tts and llm = "openai", through the real SDK.

The OpenAI API is a local server speaking its protocol (tests/openai/fake_openai.py); the call itself is
a real one through the local carrier, so transcription, chat and speech all run on the production path.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from aiohttp.test_utils import TestServer

from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from tests.openai.fake_openai import API_KEY, FakeOpenAi
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

    turns = [(turn["role"], turn["text"]) for turn in call["transcript"]]
    assert turns[0] == ("persona", fake.chat_reply)
    assert ("caller", "Call me back tomorrow morning.") in turns
    assert call["transcript"][0]["heard_text"] == fake.chat_reply
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
