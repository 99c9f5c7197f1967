"""Live notes reach the model during a call: an interruption (with what the caller actually heard) on the
next reply only, and time running out; and a reply cut by a barge-in still counts the tokens the model
read and wrote.

Real server, local carrier and PostgreSQL; the scripted model records every request it received.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from orchestrator.carrier import HangUp, PlayWav, Wait
from orchestrator.keys import POOL
from personas.prompt import estimate_tokens
from tests.call.test_conversation import SPEECH, finish, persona_turns, place_call, sentences
from tests.scripted_engines import SCRIPTED_USAGE, scripted_engines

LIVE = "Right now, during this call:"


def notes_of(request: list) -> str:
    """The live notes told with this reply: a system message after the persona's last words ('' without one).
    Notes told earlier stay in the conversation where they were told."""
    last_said = max(index for index, message in enumerate(request) if message["role"] == "assistant")
    notes = [message["content"] for message in request[last_said + 1 :] if message["role"] == "system"]
    assert len(notes) <= 1 and all(note.startswith(LIVE) for note in notes)
    return notes[0] if notes else ""


async def test_interruption_is_noted_once_and_the_cut_replys_tokens_count(make_phone_server) -> None:
    greeting = " ".join(sentences(8))
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["Wait, call me back later.", "Thanks, that helps."],
        # The greeting's text comes at once, then the model "keeps thinking": the barge-in cuts it before
        # it could report its usage.
        replies=[[greeting, 60.0, "Never said."], ["Sure, I will call you back."], ["Glad to hear it."]],
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550231")
    script = [Wait(2.2), PlayWav(SPEECH), Wait(4.0), PlayWav(SPEECH), Wait(4.0), HangUp()]
    call_id = await place_call(server, user, script)
    call, report = await finish(server, user, call_id)

    assert len(report.streams[0].clears) == 1
    cut = persona_turns(call)[0]
    assert cut["interrupted"] and cut["heard_text"] and cut["heard_text"] != cut["text"]
    assert len(llm.requests) == 3
    opening, after_cut, later = llm.requests
    assert notes_of(opening) == notes_of(later) == ""  # told once, on the reply right after the interruption
    notes = notes_of(after_cut)
    # Just before the caller's words, which come last: the model answers them instead of reading the notes out.
    assert after_cut[-2]["content"] == notes
    assert after_cut[-1] == {"role": "user", "content": "Wait, call me back later."}
    # What the caller heard is the persona's turn just before the note (told, not quoted again).
    assert after_cut[-3] == {"role": "assistant", "content": cut["heard_text"]}
    assert "interrupted you" in notes and "all they heard" in notes and cut["heard_text"] not in notes
    assert all("Never said" not in message["content"] for message in after_cut)
    # The system prompt never changes and each prompt extends the one before, the told notes included (they
    # stay where they were told): a model server's prompt cache covers all but the new turn.
    assert opening[0] == after_cut[0] == later[0] and LIVE not in opening[0]["content"]
    assert after_cut[: len(opening)] == opening and later[: len(after_cut)] == after_cut
    assert [message["content"] for message in later if message["role"] == "system"][1:] == [notes]

    # The cut reply never reported usage: what it read (the opening request) and wrote (the greeting) are
    # estimated; the two replies that finished report their own.
    used = call["usage"]
    read = estimate_tokens("".join(message["content"] for message in llm.requests[0]))
    assert used["llm_tokens_in"] == read + 2 * SCRIPTED_USAGE.prompt_tokens
    assert used["llm_tokens_out"] == estimate_tokens(greeting + " ") + 2 * SCRIPTED_USAGE.completion_tokens


async def test_time_running_out_is_noted(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(transcripts=["How long do we have?"], replies=[["Hi Jordan."]])
    # Notes start at twice the warning time before the limit: with a 30 s warning, a 9 s call is near its end
    # from the start (and too short for the spoken warning line).
    near_end = lambda s: replace(s, call=replace(s.call, time_warning_s=30.0))  # noqa: E731
    server = await make_phone_server(engines=engines, tune=near_end)
    user = await server.verified_user("+14155550232")
    call_id = await place_call(server, user, [Wait(1.5), PlayWav(SPEECH), Wait(10.0), HangUp()], ring_s=0.5)
    await server.client.app[POOL].execute("UPDATE calls SET time_limit_s = 9 WHERE id = $1", uuid.UUID(call_id))
    call, _report = await finish(server, user, call_id)

    assert len(llm.requests) == 2
    for request in llm.requests:
        notes = notes_of(request)
        assert "less than a minute left" in notes and "wrapping up" in notes
    assert persona_turns(call)[-1]["text"] == server.settings.call.time_goodbye_line
