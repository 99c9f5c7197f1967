"""Speculative replies ([turns] speculative_reply): the model starts at the first pause, before the turn
is over; its reply is used when the turn ends there, and dropped unheard when the caller goes on.

Real server, carrier, websockets and PostgreSQL as in test_conversation.py. The engines are this file's
own: speech-to-text answers by the length of the audio (so the speculative guess and the whole turn get
different words whatever the pauses inside the recording), and the language model answers by the last
thing the caller said, recording when each request came and whether it ran to the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from media.call import Engines
from media.stt import Transcript
from orchestrator.carrier import HangUp, PlayWav, Wait
from personas.llm import Done, LlmEvent, Message, TextDelta, ToolSpec, Usage
from tests.call.test_conversation import SPEECH, finish, persona_turns, place_call, speech_s
from tests.scripted_engines import ScriptedTextToSpeech

SHORT = "Call me back."  # up to one recording of speech
LONG = "Call me back, and then call me again."  # the caller went on: more than one recording
USAGE = Usage(prompt_tokens=100, completion_tokens=10)


@dataclass
class WordsByLength:
    """Speech-to-text whose words depend only on how much audio it got."""

    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        seconds = len(pcm16) / 2 / sample_rate
        return Transcript(SHORT if seconds < speech_s(SPEECH) + 0.5 else LONG, seconds, 0.0, 0.001, 0.0)

    async def aclose(self) -> None:
        pass


@dataclass
class Request:
    at: datetime
    said: str  # the caller's last words in the prompt ('' for the greeting)
    finished: bool = False  # ran to its Done (False: closed before, e.g. dropped)


@dataclass
class AnswerByLastWords:
    """A language model answering each caller line with a fixed reply after `delay_s` (the time to
    first token), recording every request."""

    replies: dict[str, str]
    delay_s: float = 0.4
    requests: list[Request] = field(default_factory=list)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[LlmEvent]:
        said = str(messages[-1]["content"]) if len(messages) > 1 and messages[-1]["role"] == "user" else ""
        said = said if said in self.replies else ""
        request = Request(datetime.now(UTC), said)
        self.requests.append(request)
        if said:
            await asyncio.sleep(self.delay_s)
        for word in self.replies[said].split(" "):
            yield TextDelta(word + " ")
        request.finished = True
        yield Done("stop", USAGE)

    async def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> None:
        pass  # not what these tests are about

    async def aclose(self) -> None:
        pass


async def test_reply_started_at_the_pause_is_used_when_the_turn_ends_there(make_phone_server) -> None:
    llm = AnswerByLastWords({"": "Hi.", SHORT: "Sure, I will call you back."})
    tts = ScriptedTextToSpeech()
    server = await make_phone_server(engines=Engines(WordsByLength(), tts, llm))
    user = await server.verified_user("+14155550231")
    script = [Wait(0.6), PlayWav(SPEECH), Wait(3.0), HangUp()]
    call, _report = await finish(server, user, await place_call(server, user, script))

    caller = [turn for turn in call["transcript"] if turn["role"] == "caller"]
    assert [turn["text"] for turn in caller] == [SHORT]
    assert [turn["heard_text"] for turn in persona_turns(call)] == ["Hi.", "Sure, I will call you back."]
    # One request for the answer, made before the turn was over (the caller's row starts once it is),
    # and used: not asked again.
    answers = [request for request in llm.requests if request.said == SHORT]
    assert len(answers) == 1 and answers[0].finished
    assert answers[0].at < datetime.fromisoformat(caller[0]["started_at"])
    assert tts.spoken == ["Hi.", "Sure,", "I will call you back."]  # the first words up to a comma go at once
    # Its tokens are counted once (greeting + answer).
    assert call["usage"]["llm_tokens_out"] == 2 * USAGE.completion_tokens


async def test_reply_started_at_a_pause_is_dropped_unheard_when_the_caller_goes_on(make_phone_server) -> None:
    llm = AnswerByLastWords({"": "Hi.", SHORT: "This guess is never heard.", LONG: "Twice, got it."})
    tts = ScriptedTextToSpeech()
    server = await make_phone_server(engines=Engines(WordsByLength(), tts, llm))
    user = await server.verified_user("+14155550232")
    # 300 ms of silence reads as ~200 ms of VAD silence: past the speculative pause (100), short of the
    # end of the turn (350). The caller goes on while the guessed reply is still thinking.
    script = [Wait(0.6), PlayWav(SPEECH), Wait(0.3), PlayWav(SPEECH), Wait(3.0), HangUp()]
    call, report = await finish(server, user, await place_call(server, user, script))

    guesses = [request for request in llm.requests if request.said == SHORT]
    assert guesses, "the model was not started at the pause"
    assert not any(request.finished for request in guesses)  # cancelled while it was thinking
    assert [(turn["role"], turn["text"]) for turn in call["transcript"]] == [
        ("persona", "Hi."),
        ("caller", LONG),
        ("persona", "Twice, got it."),
    ]
    assert "This guess is never heard." not in tts.spoken
    assert tts.spoken == ["Hi.", "Twice,", "got it."]
    assert report.streams[0].clears == []  # nothing of the guess ever went out
    # The cancelled guesses produced nothing: only the greeting and the answer are counted.
    assert call["usage"]["llm_tokens_out"] == 2 * USAGE.completion_tokens
