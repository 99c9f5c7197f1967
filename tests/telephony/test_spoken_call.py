"""A real spoken phone call in CI: the embedded Whisper, Piper and local Qwen, through the local carrier.

The caller's lines are spoken by Piper (another voice than the persona's), played into the call as
real-time 20 ms mu-law frames by the carrier's phone, heard through VAD and turn-taking, transcribed by
Whisper, answered by the local model and spoken back by Piper; the database then holds the transcript.
"""

from __future__ import annotations

import re
from contextlib import aclosing
from dataclasses import replace
from pathlib import Path

import pytest

from media.codec import write_wav
from media.resample import resample
from orchestrator.carrier import HangUp, PlayWav, Scenario, Wait
from tests.telephony.test_outbound_call import wait_for_call_end

CALLER_LINES = [
    "Hi Sarah, I have a job interview tomorrow morning and I am really nervous.",
    "It is for a nursing job at the city hospital.",
    "I think my weak spot is talking about my last job.",
]
CALLER_VOICE = {"piper": {"length_scale": 1.0, "pitch_semitones": 0.0}}


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower())


async def _speak_lines(tts, folder: Path) -> list[Path]:
    paths = []
    for index, line in enumerate(CALLER_LINES):
        async with aclosing(tts.synthesize(line, CALLER_VOICE)) as chunks:
            pcm = b"".join([chunk async for chunk in chunks])
        path = folder / f"line{index}.wav"
        write_wav(path, resample(pcm, tts.sample_rate, 8000), 8000)
        paths.append(path)
    return paths


@pytest.mark.engines
async def test_spoken_call_with_embedded_engines(make_phone_server, tmp_path: Path) -> None:
    server = await make_phone_server(
        engines="configured",
        # A loaded machine may be slow to the first token: give the model room before the fallback line; no
        # "are you still there?" between the caller's lines (it would be part of what the model reads); and no
        # memory extraction competing for the one llama.cpp slot during the call.
        tune=lambda s: replace(
            s,
            call=replace(s.call, first_token_timeout_s=15.0, idle_prompt_s=30.0),
            memory=replace(s.memory, run_worker=False),
        ),
    )
    lines = await _speak_lines(server.engines.tts, tmp_path)
    user = await server.verified_user("+14155550141")
    # Generous pauses: each reply must be generated and played before the caller's next line, also on a
    # loaded machine (the assertions are about content, not speed; bench/calls.py measures speed).
    script = (Wait(12.0), *[step for line in lines for step in (PlayWav(line), Wait(16.0))], HangUp())
    server.carrier.set_scenario("+14155550141", Scenario(ring_s=0.2, script=script))
    response = await user.request("POST", "/api/calls", json={"persona_id": "sarah", "context": "pep talk"})
    assert response.status == 202
    call = await wait_for_call_end(server, user, (await response.json())["id"], timeout_s=120)

    assert call["status"] == "completed"
    turns = call["transcript"]
    for turn in turns:  # shown when the test fails (or with -s)
        print(f"{turn['role']:8} {turn['text']!r} heard={turn['heard_text']!r} latency={turn['latency_ms']}")
    caller = [turn["text"] for turn in turns if turn["role"] == "caller"]
    persona = [turn for turn in turns if turn["role"] == "persona"]
    assert len(caller) >= 2, turns
    for said, heard in zip(CALLER_LINES, caller, strict=False):
        expected, got = set(_words(said)), set(_words(heard))
        assert len(expected & got) >= 0.7 * len(expected), (said, heard)
    assert turns[0]["role"] == "persona" and turns[0]["text"]  # the persona speaks first
    # Each caller turn is answered, with audio that reached the caller's ear.
    for index, turn in enumerate(turns):
        if turn["role"] == "caller":
            answer = next((t for t in turns[index + 1 :] if t["role"] == "persona"), None)
            assert answer is not None and answer["text"], turns
    assert any(turn["heard_text"] for turn in persona[1:]), persona
    replies = " ".join(turn["text"].lower() for turn in persona[1:])
    assert any(word in replies for word in ("interview", "nervous", "nursing", "hospital", "job")), replies
    answered = [t for t in persona[1:] if t["latency_ms"].get("first_frame_sent") is not None]
    assert answered and all(t["latency_ms"]["transcript"] > 0 for t in answered)
