"""A language model that stalls mid-reply (or whose stream is cut short) does not leave the caller in silence.

The reply is ended at the first-token deadline after its last token: the caller has heard the sentences
already spoken, the turn is recorded as what was said, and the next turn is answered normally.
"""

from __future__ import annotations

import time
from dataclasses import replace

from orchestrator.carrier import HangUp, PlayWav, Wait
from personas.llm import LanguageModelError
from tests.call.test_conversation import SPEECH, finish, persona_turns, place_call, short_lines
from tests.scripted_engines import scripted_engines


async def test_a_stall_mid_reply_ends_the_reply_and_the_call_goes_on(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["first question", "second question", "third question"],
        replies=[
            ["Hi Jordan."],
            ["Well, let me think.", 30.0, "Never said."],  # stalls for 30 s after its first sentence
            ["Okay, I am here.", LanguageModelError("stream cut short")],  # the connection drops mid-reply
            ["Got it, thanks."],
        ],
    )
    server = await make_phone_server(
        engines=engines,
        tune=lambda s: short_lines(replace(s, call=replace(s.call, first_token_timeout_s=1.0))),
    )
    user = await server.verified_user("+14155553101")
    script = [Wait(1.0), PlayWav(SPEECH), Wait(4.0), PlayWav(SPEECH), Wait(3.0), PlayWav(SPEECH), Wait(2.5), HangUp()]
    started = time.monotonic()
    call, report = await finish(server, user, await place_call(server, user, script), timeout_s=40)

    assert time.monotonic() - started < 30  # the stalled reply did not hold the call
    turns = [(turn["role"], turn["text"]) for turn in call["transcript"]]
    assert turns == [
        ("persona", "Hi Jordan."),
        ("caller", "first question"),
        ("persona", "Well, let me think."),
        ("caller", "second question"),
        ("persona", "Okay, I am here."),
        ("caller", "third question"),
        ("persona", "Got it, thanks."),
    ]
    assert all(turn["heard_text"] == turn["text"] for turn in persona_turns(call))
    assert report.streams[0].ended_by == "phone" and len(llm.requests) == 4
