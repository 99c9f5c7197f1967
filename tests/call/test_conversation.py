"""The conversation engine (media/call.py) proved through real sockets: server, local carrier, PostgreSQL.

Each test places a real outbound call through the API; the carrier's phone plays a script into the
media stream (real recorded speech, so the silero VAD hears it) and records everything it heard and
echoed. The engines are scripted: the TTS speaks a tone of 0.25 s per word, so a four-word sentence is
exactly one second of audio on the phone's ear. Assertions are made against events (mark echoes, the
clear, caller speech times), never against sleeps.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from array import array
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from media.call import Engines
from media.stt import Transcript
from media.twilio_transport import TwilioTransport
from orchestrator.carrier import Dtmf, HangUp, PlayWav, Scenario, Wait
from orchestrator.carrier.audio import read_wav_8k
from orchestrator.carrier.report import CallReport, MarkEcho
from orchestrator.keys import LIVE_CALLS, POOL, RECORDER
from personas.llm import LanguageModelError, ToolCall
from personas.prompt import STYLE_EXAMPLE
from tests.scripted_engines import ScriptedSpeechToText, scripted_engines
from tests.telephony.test_outbound_call import wait_for_call_end

FIXTURES = Path(__file__).resolve().parent.parent / "media" / "fixtures"
SPEECH = FIXTURES / "call_me_back.wav"  # ~1.5 s sentence
YEAH = FIXTURES / "yeah.wav"  # a short backchannel
RATE = 8000
SILENT = 200  # |sample| below this on the ear is silence (the persona's tone peaks at 8000)
WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def sentences(count: int) -> list[str]:
    """`count` four-word sentences: one second of scripted speech each."""
    return [f"This is sentence {WORDS[i]}." for i in range(count)]


def speech_s(path: Path) -> float:
    return len(read_wav_8k(path)) / 2 / RATE


def short_lines(settings):
    """Short fixed lines, so a call that says several of them stays a few seconds long."""
    return replace(
        settings,
        call=replace(
            settings.call,
            fallback_line="Sorry, could you say that again?",
            time_warning_line="We are almost out of time.",
            time_goodbye_line="Out of time, bye for now!",
            idle_goodbye_line="I will let you go. Bye!",
        ),
    )


async def place_call(server, user, script, *, ring_s: float = 0.2, persona_id: str | None = None) -> str:
    """By default with a persona whose greeting the model writes: most scripts here begin with it."""
    server.carrier.set_scenario(user.user["phone"], Scenario(ring_s=ring_s, script=tuple(script)))
    persona_id = persona_id or await user.model_greeted_persona()
    response = await user.request("POST", "/api/calls", json={"persona_id": persona_id})
    assert response.status == 202, await response.text()
    return (await response.json())["id"]


async def finish(server, user, call_id: str, timeout_s: float = 30.0) -> tuple[dict, CallReport]:
    """The call as the API reports it once ended, and the carrier's report of it."""
    call = await wait_for_call_end(server, user, call_id, timeout_s)
    sid = await server.client.app[POOL].fetchval("SELECT provider_call_id FROM calls WHERE id = $1", uuid.UUID(call_id))
    report = await server.carrier.wait_finished(sid, 10.0)
    return call, report


def marks_of(report: CallReport, reply: int) -> list[MarkEcho]:
    """The echoes of one reply's marks (the server names them `<reply>.<chunk>`; the opening is 1)."""
    return [mark for mark in report.streams[0].marks if mark.name.split(".")[0] == str(reply)]


def ear(report: CallReport) -> array:
    samples = array("h")
    samples.frombytes(report.heard_pcm)
    return samples


def loud(samples: array, start_s: float, end_s: float) -> list[int]:
    """Indexes (relative to `start_s`) of non-silent samples on the ear between two stream times."""
    window = samples[int(start_s * RATE) : int(end_s * RATE)]
    return [i for i, value in enumerate(window) if abs(value) >= SILENT]


async def until(condition: Callable[[], object], timeout_s: float) -> None:
    """Wait for a condition on live state (a bounded poll: the event has no hook to await)."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


def persona_turns(call: dict) -> list[dict]:
    return [turn for turn in call["transcript"] if turn["role"] == "persona"]


async def test_barge_in_cuts_the_reply_at_the_last_echoed_mark(make_phone_server) -> None:
    greeting = sentences(8)
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["Wait, call me back later."],
        # The answer waits 0.8 s: the ear must stay silent from the clear until at least then.
        replies=[[" ".join(greeting)], [0.8, "Sure, I will call you back."]],
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550201")
    talk_at_s = 2.2  # mid third sentence
    call_id = await place_call(server, user, [Wait(talk_at_s), PlayWav(SPEECH), Wait(4.5), HangUp()])
    call, report = await finish(server, user, call_id)

    stream = report.streams[0]
    assert len(stream.clears) == 1, stream.clears
    clear = stream.clears[0]
    assert talk_at_s * 1000 < clear.at_ms < (talk_at_s + speech_s(SPEECH)) * 1000
    assert clear.dropped_ms > 0  # the lead the pacer had sent ahead was dropped at the phone

    # Nothing of the cut reply reaches the ear after the clear: silence until the caller has finished
    # talking (the next reply cannot start earlier), while the persona was audible just before it.
    samples = ear(report)
    clear_s = clear.at_ms / 1000
    assert loud(samples, clear_s - 0.2, clear_s - 0.04), "the persona was not speaking when cut off"
    caller_done_s = talk_at_s + speech_s(SPEECH)
    assert not loud(samples, clear_s + 0.02, caller_done_s + 0.3), "persona audio after the clear"
    assert loud(samples, caller_done_s + 0.3, caller_done_s + 4.0), "the next reply was not heard"

    # The stored turn is cut at the last mark echoed (unflushed) before the clear: whole sentences.
    # The pacer sends a mark right behind its sentence's audio, so the phone only ever got the marks of
    # sentences already under way; the rest of the reply never left the server.
    played = [mark.name for mark in marks_of(report, 1) if not mark.flushed]
    assert [mark.name for mark in marks_of(report, 1)] == [f"1.{i}" for i in range(len(marks_of(report, 1)))]
    assert 1 <= len(played) < len(greeting)
    first = persona_turns(call)[0]
    assert first["interrupted"] is True
    assert first["text"] == " ".join(greeting)
    heard = first["heard_text"]
    assert heard and first["text"].startswith(heard) and len(heard) < len(first["text"])
    heard_count = len(heard.split(". "))
    # A mark the phone echoed in the same instant the server decided to clear may be counted as unheard
    # by the server (it cannot tell the echoes apart); never the other way round.
    assert heard_count == len(played) or (
        heard_count == len(played) - 1 and clear.at_ms - marks_of(report, 1)[heard_count].echoed_at_ms < 100
    ), (heard, played)
    assert heard == " ".join(greeting[:heard_count])

    # The model is told only what the caller heard.
    second_request = llm.requests[1]
    assert second_request[1 : 1 + len(STYLE_EXAMPLE)] == list(STYLE_EXAMPLE)  # the style example, then the call
    second_request = second_request[1 + len(STYLE_EXAMPLE) :]
    assert [m["content"] for m in second_request if m["role"] == "assistant"] == [heard]
    assert second_request[-2]["role"] == "system" and "interrupted you" in second_request[-2]["content"]
    assert second_request[-1] == {"role": "user", "content": "Wait, call me back later."}
    last = persona_turns(call)[-1]
    assert last["text"] == "Sure, I will call you back." and not last["interrupted"]


async def test_backchannel_does_not_interrupt(make_phone_server) -> None:
    greeting = sentences(4)
    engines, stt, _tts, _llm = scripted_engines(replies=[[" ".join(greeting)]])
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550202")
    call_id = await place_call(server, user, [Wait(1.4), PlayWav(YEAH), Wait(4.0), HangUp()])
    call, report = await finish(server, user, call_id)

    assert report.streams[0].clears == []
    assert [mark.flushed for mark in marks_of(report, 1)] == [False] * len(greeting)
    (turn,) = persona_turns(call)
    assert turn["interrupted"] is False and turn["heard_text"] == turn["text"] == " ".join(greeting)
    assert stt.heard == []  # "yeah" under the persona's voice was never even a turn


def _call_tasks() -> Counter[str]:
    """Live tasks by coroutine name, leaving out the test's own."""
    current = asyncio.current_task()
    return Counter(task.get_coro().__qualname__ for task in asyncio.all_tasks() if task is not current)


async def test_caller_hangs_up_mid_reply(make_phone_server, monkeypatch: pytest.MonkeyPatch) -> None:
    greeting = sentences(8)
    engines, _stt, _tts, _llm = scripted_engines(replies=[[" ".join(greeting)]])
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550203")

    sent_after_close: list[str] = []
    original_send = TwilioTransport._send

    async def watched_send(self: TwilioTransport, text: str) -> None:
        if self._ws.closed:
            sent_after_close.append(text[:80])
        await original_send(self, text)

    monkeypatch.setattr(TwilioTransport, "_send", watched_send)
    before = _call_tasks()
    call_id = await place_call(server, user, [Wait(2.5), HangUp()])
    live = server.client.app[LIVE_CALLS]
    await until(lambda: live, 10)
    assert {"Pacer.run", "Call._hear", "Call._watch"} <= set(_call_tasks()), "the call's tasks are not visible"
    call, report = await finish(server, user, call_id)

    assert report.streams[0].ended_by == "phone"
    # The handler returns once every task of the call has finished (bounded: no sleep-and-hope).
    await until(lambda: not live, 5)
    leftover = _call_tasks() - before
    ours = {name: n for name, n in leftover.items() if name.split(".")[0] in ("Call", "Pacer", "media_stream")}
    assert not ours, leftover
    assert not [name for name in leftover if name.startswith(("Call.", "Pacer.", "TwilioTransport."))]
    assert sent_after_close == []

    (turn,) = persona_turns(call)
    assert turn["text"] == " ".join(greeting)
    assert turn["interrupted"] or len(turn["heard_text"] or "") < len(turn["text"])
    played = [mark.name for mark in marks_of(report, 1) if not mark.flushed]
    assert 1 <= len(played) < len(greeting)
    assert turn["heard_text"] == " ".join(greeting[: len(played)])


@pytest.mark.parametrize("failure", ["error", "timeout"])
async def test_language_model_failure_says_the_fallback_and_goes_on(make_phone_server, failure: str) -> None:
    broken = [LanguageModelError("upstream 500")] if failure == "error" else [3.0, "Far too late."]
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["first question", "second question"],
        replies=[["Hi Jordan."], broken, ["Got it, thanks."]],
    )
    server = await make_phone_server(
        engines=engines,
        tune=lambda s: short_lines(replace(s, call=replace(s.call, first_token_timeout_s=0.5))),
    )
    fallback = server.settings.call.fallback_line
    user = await server.verified_user("+14155550204" if failure == "error" else "+14155550205")
    script = [Wait(1.0), PlayWav(SPEECH), Wait(3.0), PlayWav(SPEECH), Wait(2.5), HangUp()]
    call, report = await finish(server, user, await place_call(server, user, script))

    turns = [(turn["role"], turn["text"]) for turn in call["transcript"]]
    assert turns == [
        ("persona", "Hi Jordan."),
        ("caller", "first question"),
        ("persona", fallback),
        ("caller", "second question"),
        ("persona", "Got it, thanks."),
    ]
    for turn in persona_turns(call):
        assert turn["heard_text"] == turn["text"] and not turn["interrupted"]
    # The fallback was played to the phone's ear: its marks echoed as played, not flushed.
    assert marks_of(report, 2) and not [mark for mark in marks_of(report, 2) if mark.flushed]
    assert report.streams[0].clears == []
    assert len(llm.requests) == 3


async def test_a_fixed_greeting_is_said_at_once_while_the_model_reads_the_first_reply(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(transcripts=["I have an interview tomorrow."], replies=[["Good luck!"]])
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550212")
    script = [Wait(3.0), PlayWav(SPEECH), Wait(2.0), HangUp()]
    call, report = await finish(server, user, await place_call(server, user, script, persona_id="brad"))

    greeting = "Hey Jordan, it's Brad! Ready to get after it today?"  # the built-in's, the name filled in
    assert [turn["text"] for turn in persona_turns(call)] == [greeting, "Good luck!"]
    assert persona_turns(call)[0]["heard_text"] == greeting
    # The model was asked only for the reply, and had read its prompt (greeting included) beforehand.
    assert len(llm.requests) == 1
    [(asked_before, messages, _tools)] = llm.prefills
    assert asked_before == 0 and messages[-1] == {"role": "assistant", "content": greeting}
    assert llm.requests[0][:-1] == messages
    assert "greeted them" in messages[0]["content"]
    # At once: the greeting is on the phone's ear within 300 ms of the stream's start, one mark a sentence.
    heard = loud(ear(report), 0.0, 1.0)
    assert heard and heard[0] < 0.3 * RATE
    assert [mark.flushed for mark in marks_of(report, 1)] == [False, False]


async def test_a_reply_out_of_character_is_asked_for_again_and_never_heard(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["I have an interview tomorrow."],
        replies=[["Hi Jordan."], ["I'm sorry, but I can't assist with that."], ["That sounds like a big day."]],
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550209")
    call, report = await finish(
        server, user, await place_call(server, user, [Wait(1.0), PlayWav(SPEECH), Wait(3.0), HangUp()])
    )

    assert [(turn["role"], turn["text"]) for turn in call["transcript"]] == [
        ("persona", "Hi Jordan."),
        ("caller", "I have an interview tomorrow."),
        ("persona", "That sounds like a big day."),
    ]
    # The same prompt asked twice; the second time warmer, so that it can come out differently.
    assert len(llm.requests) == 3 and llm.requests[2] == llm.requests[1]
    assert llm.temperatures[2] is not None and llm.temperatures[2] >= 0.8 > llm.temperatures[1]
    # Not a word of the refusal reached the phone ("I'm sorry," was held back): one mark, the answer's.
    assert [mark.flushed for mark in marks_of(report, 2)] == [False]
    assert report.streams[0].clears == []


async def test_out_of_character_twice_says_the_fallback_and_a_late_break_ends_the_reply(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["first question", "second question"],
        replies=[
            ["Hi Jordan."],
            ["I'm sorry, but I can't assist with that."],
            ["Sorry, but I can't help with that."],
            ["That sounds tough. How can I assist you further?"],
        ],
    )
    server = await make_phone_server(engines=engines, tune=short_lines)
    user = await server.verified_user("+14155550210")
    script = [Wait(1.0), PlayWav(SPEECH), Wait(3.0), PlayWav(SPEECH), Wait(2.5), HangUp()]
    call, _report = await finish(server, user, await place_call(server, user, script))

    assert [(turn["role"], turn["text"]) for turn in call["transcript"]] == [
        ("persona", "Hi Jordan."),
        ("caller", "first question"),
        ("persona", server.settings.call.fallback_line),
        ("caller", "second question"),
        ("persona", "That sounds tough."),
    ]
    assert len(llm.requests) == 4  # the fourth reply's break was not asked again: a word of it was said
    # The model never reads what it said out of character.
    assert not any("assist" in str(message["content"]) for message in llm.requests[3])


async def test_a_greeting_out_of_character_becomes_the_plain_opening(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(replies=[["Hello! How can I assist you today?"]])
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550211")
    call, _report = await finish(server, user, await place_call(server, user, [Wait(3.0), HangUp()]))

    # The caller is waiting on the pickup: the fixed opening at once, not another try.
    opening = "Hi Jordan, it's Brad. How are you doing?"
    assert [turn["text"] for turn in persona_turns(call)] == [opening]
    assert len(llm.requests) == 1
    # The first reply's prompt, read while the opening plays, holds the opening the caller heard.
    [(_after, messages, _tools)] = llm.prefills
    assert messages[-1] == {"role": "assistant", "content": opening}


async def test_persona_ends_the_call_after_the_farewell_played(make_phone_server) -> None:
    farewell = "Okay, bye Jordan. Talk soon!"
    engines, _stt, _tts, _llm = scripted_engines(
        transcripts=["okay bye"],
        replies=[["Hi Jordan."], [farewell, ToolCall("call_1", "end_call", {})]],
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550206")
    # The phone never hangs up: only the server can end this call.
    call, report = await finish(server, user, await place_call(server, user, [Wait(1.0), PlayWav(SPEECH)]))

    stream = report.streams[0]
    assert stream.ended_by == "server"
    assert call["status"] == "completed"
    goodbye = marks_of(report, 2)
    # The phone echoes a mark only while the stream is open, once the audio before it has played.
    assert len(goodbye) >= 2 and not any(mark.flushed for mark in goodbye)  # "Okay," "bye Jordan." "Talk soon!"
    assert stream.played_ms - goodbye[-1].played_ms < 60  # nothing queued after the farewell
    last = persona_turns(call)[-1]
    assert last["text"] == farewell and last["heard_text"] == farewell and not last["interrupted"]


async def test_first_reply_prompt_is_read_while_the_greeting_plays(make_phone_server) -> None:
    engines, _stt, _tts, llm = scripted_engines(
        transcripts=["I have an interview tomorrow."], replies=[["Hi Jordan. It's Brad."], ["Good luck!"]]
    )
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550208")
    call_id = await place_call(server, user, [Wait(2.5), PlayWav(SPEECH), Wait(2.0), HangUp()])
    call, _report = await finish(server, user, call_id)

    assert [turn["text"] for turn in persona_turns(call)] == ["Hi Jordan. It's Brad.", "Good luck!"]
    # One prefill, asked after the greeting's request and before the reply's: the reply's prompt up to
    # the caller's words, tools included.
    [(after_requests, messages, tools)] = llm.prefills
    assert after_requests == 1 and len(llm.requests) == 2
    reply = llm.requests[1]
    assert messages == reply[:-1] and reply[-1] == {"role": "user", "content": "I have an interview tomorrow."}
    assert messages[-1] == {"role": "assistant", "content": "Hi Jordan. It's Brad."}
    assert tools == llm.offered[1] == ["end_call", "schedule_callback"]


async def test_dtmf_digits_are_stored_on_the_call(make_phone_server) -> None:
    server = await make_phone_server()
    user = await server.verified_user("+14155550207")
    script = [Wait(0.6), Dtmf("4"), Dtmf("2"), Wait(0.2), Dtmf("#"), Wait(0.6), HangUp()]
    call_id = await place_call(server, user, script)
    _call, report = await finish(server, user, call_id)

    assert report.streams[0].dtmf_sent == ["4", "2", "#"]
    dtmf = await server.client.app[POOL].fetchval("SELECT dtmf FROM calls WHERE id = $1", uuid.UUID(call_id))
    assert dtmf == "42#"


async def test_silence_prompts_then_says_goodbye_and_hangs_up(make_phone_server) -> None:
    engines, _stt, _tts, _llm = scripted_engines(replies=[["Hi Jordan."]])
    server = await make_phone_server(
        engines=engines,
        tune=lambda s: short_lines(replace(s, call=replace(s.call, idle_prompt_s=1.0, idle_hangup_s=1.5))),
    )
    lines = server.settings.call
    user = await server.verified_user("+14155550208")
    call, report = await finish(server, user, await place_call(server, user, []))  # a silent caller

    assert report.streams[0].ended_by == "server" and call["status"] == "completed"
    turns = persona_turns(call)
    assert [turn["text"] for turn in turns] == ["Hi Jordan.", lines.still_there_line, lines.idle_goodbye_line]
    for turn in turns:
        assert turn["heard_text"] == turn["text"] and not turn["interrupted"]
    assert not [mark for mark in report.streams[0].marks if mark.flushed]
    # Each line came after the configured silence, measured from the end of the line before it.
    gaps = [_seconds(turns[i + 1]["started_at"]) - _seconds(turns[i]["ended_at"]) for i in range(2)]
    assert gaps[0] >= lines.idle_prompt_s - 0.05 and gaps[1] >= lines.idle_hangup_s - 0.05, gaps


def _seconds(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp).timestamp()


async def test_time_limit_warns_then_says_goodbye(make_phone_server) -> None:
    engines, _stt, _tts, _llm = scripted_engines(replies=[["Hi Jordan."]])
    server = await make_phone_server(
        engines=engines, tune=lambda s: short_lines(replace(s, call=replace(s.call, time_warning_s=2.0)))
    )
    lines = server.settings.call
    user = await server.verified_user("+14155550209")
    call_id = await place_call(server, user, [], ring_s=0.5)
    # The call's own limit (set before it is answered: the stream reads it when it starts).
    await server.client.app[POOL].execute("UPDATE calls SET time_limit_s = 5 WHERE id = $1", uuid.UUID(call_id))
    call, report = await finish(server, user, call_id)

    assert report.streams[0].ended_by == "server" and call["status"] == "completed"
    turns = persona_turns(call)
    assert [turn["text"] for turn in turns] == ["Hi Jordan.", lines.time_warning_line, lines.time_goodbye_line]
    goodbye = turns[-1]
    assert goodbye["heard_text"] == goodbye["text"] and not goodbye["interrupted"]
    assert marks_of(report, 3) and not [mark for mark in marks_of(report, 3) if mark.flushed]


async def test_database_stall_does_not_delay_outbound_audio(make_phone_server) -> None:
    answer = sentences(4)
    engines, _stt, _tts, _llm = scripted_engines(transcripts=["How are you?"], replies=[["Hi."], [" ".join(answer)]])
    server = await make_phone_server(engines=engines)
    user = await server.verified_user("+14155550210")
    app = server.client.app

    locker = await asyncpg.connect(server.settings.database.url)
    stall = locker.transaction()
    await stall.start()
    await locker.execute("LOCK TABLE utterances IN ACCESS EXCLUSIVE MODE")
    try:
        talk_at_s = 0.8
        call_id = await place_call(server, user, [Wait(talk_at_s), PlayWav(SPEECH), Wait(6.5), HangUp()])
        await until(lambda: app[LIVE_CALLS], 10)
        (live_call,) = app[LIVE_CALLS]
        sid = await app[POOL].fetchval("SELECT provider_call_id FROM calls WHERE id = $1", uuid.UUID(call_id))
        report = server.carrier.call(sid).report
        # Hold the lock until the whole answer has played (its last mark echoed).
        await until(lambda: len([m for m in marks_of(report, 2) if not m.flushed]) == len(answer), 20)
        assert app[RECORDER].pending >= 3  # greeting, caller turn and answer all waiting on the lock
        jitter = live_call.pacer.jitter()
    finally:
        await stall.rollback()
        await locker.close()

    call, report = await finish(server, user, call_id)
    assert [turn["text"] for turn in call["transcript"]] == ["Hi.", "How are you?", " ".join(answer)]

    # The ear heard the answer as one unbroken stretch of audio: no underrun while the database stalled.
    samples = ear(report)
    start_s = talk_at_s + speech_s(SPEECH)
    voiced = loud(samples, start_s, start_s + 8.0)
    assert voiced, "the answer was not heard"
    longest_gap_ms = max(b - a for a, b in itertools.pairwise(voiced)) / RATE * 1000
    heard_s = (voiced[-1] - voiced[0]) / RATE
    assert longest_gap_ms < 100, longest_gap_ms
    assert abs(heard_s - len(answer)) < 0.2, heard_s
    # And the server sent every frame close to its slot (the lead is 160 ms).
    assert jitter.count > 200 and jitter.p99_ms < 100, jitter


@dataclass
class SlowSpeechToText(ScriptedSpeechToText):
    """Transcribes like a loaded Whisper: long enough for the caller to start talking again meanwhile."""

    delay_s: float = 1.0

    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        await asyncio.sleep(self.delay_s)
        return await super().transcribe(pcm16, sample_rate)


async def test_caller_who_goes_on_talking_is_answered_once_after_both_parts(make_phone_server) -> None:
    """Speech-to-text is slow, so the first part's transcript arrives while the caller is already
    talking again: the persona does not start answering over them (which would only be cut), it
    answers once, after the second part, with both parts in the prompt in spoken order."""
    answer = ["Okay then.", "I see.", "Go on."]
    _engines, _stt, tts, llm = scripted_engines(replies=[["Hi."], [" ".join(answer)], ["Got it."]])
    stt = SlowSpeechToText(deque(["first part", "second part"]))
    server = await make_phone_server(engines=Engines(stt, tts, llm))
    user = await server.verified_user("+14155550211")
    script = [Wait(0.6), PlayWav(SPEECH), Wait(0.6), PlayWav(SPEECH), Wait(4.0), HangUp()]
    call, report = await finish(server, user, await place_call(server, user, script))

    turns = call["transcript"]
    assert [(turn["role"], turn["text"]) for turn in turns] == [
        ("persona", "Hi."),
        ("caller", "first part"),
        ("caller", "second part"),
        ("persona", " ".join(answer)),
    ]
    assert not any(turn["interrupted"] for turn in turns)
    assert report.streams[0].clears == []
    assert len(llm.requests) == 2
    assert [(m["role"], m["content"]) for m in llm.requests[1][1 + len(STYLE_EXAMPLE) :]] == [
        ("user", "Hello?"),  # the pickup the greeting answered
        ("assistant", "Hi."),
        ("user", "first part"),
        ("user", "second part"),
    ]
