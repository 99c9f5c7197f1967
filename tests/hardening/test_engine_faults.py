"""The real local language model's process is killed mid-call: it is restarted, and the call goes on.

The call runs through the local carrier with the real Qwen server (llama.cpp in its child process) and
scripted speech engines (the fault is the model's). The child is killed with SIGKILL the moment the
caller's first turn is heard, so that turn's request dies with it. Every caller turn must still get a
spoken answer (a reply or the fallback line) within 3 s of the caller falling silent, measured on the
carrier's own recordings; the server comes back on the same address and answers again. The real model
is slow on a loaded machine: one call, few turns, and no assertion on what the model says.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest

from bench.ear import ear_turns
from media.call import Engines
from orchestrator.carrier import Scenario
from orchestrator.carrier.script import HangUp, PlayWav, Wait
from personas.llm import OpenAiLanguageModel, TextDelta
from personas.local_llm import LocalLlmServer
from tests.engines.conftest import local_llm_server  # noqa: F401  (the session's real model server)
from tests.engines.settings import LOCAL_REQUESTS
from tests.scripted_engines import scripted_engines

pytestmark = pytest.mark.engines
FIXTURE = Path(__file__).resolve().parents[1] / "media" / "fixtures" / "call_me_back.wav"
PHONE = "+14155553001"
TURNS = 4
MAX_DEAD_AIR_MS = 3000.0


async def _answers(model: OpenAiLanguageModel) -> str:
    text = ""
    async for event in model.complete([{"role": "user", "content": "Say hello."}], max_tokens=8):
        if isinstance(event, TextDelta):
            text += event.text
    return text


async def test_a_killed_model_process_is_restarted_and_the_call_goes_on(
    make_phone_server,
    local_llm_server: LocalLlmServer,  # noqa: F811
) -> None:
    model = OpenAiLanguageModel(local_llm_server.client_settings(LOCAL_REQUESTS))
    _, stt, tts, _ = scripted_engines(transcripts=["Can you help me get ready for my interview?"] * TURNS * 3)
    # 2 s to the first token: with the 350 ms end of turn, a fallback is heard inside 3 s.
    server = await make_phone_server(
        Engines(stt=stt, tts=tts, llm=model),
        tune=lambda s: replace(s, call=replace(s.call, first_token_timeout_s=2.0)),
    )
    try:
        script = [Wait(2.0)]
        for _ in range(TURNS):
            script += [PlayWav(FIXTURE), Wait(6.0)]
        server.carrier.set_scenario(PHONE, Scenario(ring_s=0.2, script=(*script, HangUp())))
        user = await server.verified_user(PHONE)
        response = await user.request("POST", "/api/calls", json={"persona_id": "brad"})
        assert response.status == 202, await response.text()

        async with asyncio.timeout(60):
            while True:  # the caller's first turn has ended: its model request is going out
                if stt.heard:
                    break
                await asyncio.sleep(0.02)
        killed = local_llm_server.pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)

        sid = server.carrier.calls()[-1].sid
        report = await server.carrier.wait_finished(sid, 120)
        assert report.finished and len(stt.heard) >= TURNS
        turns = ear_turns(report.caller_pcm, report.heard_pcm)
        assert len(turns) == TURNS
        waits = [turn.voice_to_voice_ms for turn in turns]
        assert all(wait is not None and wait <= MAX_DEAD_AIR_MS for wait in waits), waits

        async with asyncio.timeout(120):  # restarted on the same address: the same client works again
            while True:
                if local_llm_server.restarts >= 1:
                    break
                await asyncio.sleep(0.1)
        assert local_llm_server.pid not in (None, killed)
        assert (await _answers(model)).strip()
    finally:
        await model.aclose()
