"""Instant stand-in engines for the call benchmark: real Protocol implementations that cost ~nothing.

With them every millisecond between the end of the caller's turn and the first frame on the wire is
the orchestration's (queues, tasks, framing, resampling, the pacer, the websocket), which is what
`bench/calls.py --engines instant` measures. Each engine records its own time per invocation so the
benchmark can subtract it instead of assuming it is zero. Unlike tests/scripted_engines.py they never
run out of script (every utterance is a turn) and the reply tone is computed once, not per sentence.
Optional delays (`--stt-delay-ms`, `--llm-delay-ms`) stand in for an engine's own time, to measure what
overlapping it with the end of the turn (speculative transcription and replies) saves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from media.call import Engines
from media.stt import Transcript
from personas.llm import Done, LlmEvent, Message, TextDelta, ToolSpec

TTS_RATE = 16000


@cache
def _tone(duration_s: float, rate: int) -> bytes:
    t = np.arange(int(duration_s * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 220.0 * t)).astype("<i2").tobytes()


@dataclass
class EngineTimes:
    """Seconds each engine spent per invocation, until its first output."""

    stt_s: list[float] = field(default_factory=list)
    llm_first_s: list[float] = field(default_factory=list)
    tts_first_s: list[float] = field(default_factory=list)


@dataclass
class InstantSpeechToText:
    times: EngineTimes
    text: str = "Call me back tomorrow morning."
    delay_s: float = 0.0

    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        started = time.perf_counter()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        audio_s = len(pcm16) / 2 / sample_rate
        self.times.stt_s.append(time.perf_counter() - started)
        return Transcript(self.text, audio_s, 0.0, 0.0, 0.0)

    async def aclose(self) -> None:
        pass


@dataclass
class InstantLanguageModel:
    times: EngineTimes
    reply: str = "Okay. Tell me more."
    first_token_s: float = 0.0

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[LlmEvent]:
        started = time.perf_counter()
        if self.first_token_s:
            await asyncio.sleep(self.first_token_s)
        for index, word in enumerate(self.reply.split(" ")):
            if index == 0:
                self.times.llm_first_s.append(time.perf_counter() - started)
            yield TextDelta(word + " ")
        yield Done("stop")

    async def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> None:
        pass  # nothing to warm

    async def aclose(self) -> None:
        pass


@dataclass
class InstantTextToSpeech:
    """A 220 Hz tone of `seconds_per_word` per word, one chunk per sentence (as Piper gives it)."""

    times: EngineTimes
    seconds_per_word: float = 0.3
    sample_rate: int = TTS_RATE

    async def synthesize(self, text: str, voice: object) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        audio = _tone(max(1, len(text.split())) * self.seconds_per_word, self.sample_rate)
        self.times.tts_first_s.append(time.perf_counter() - started)
        await asyncio.sleep(0)
        yield audio

    async def aclose(self) -> None:
        pass


def instant_engines(stt_delay_s: float = 0.0, llm_first_token_s: float = 0.0) -> tuple[Engines, EngineTimes]:
    times = EngineTimes()
    engines = Engines(
        InstantSpeechToText(times, delay_s=stt_delay_s),
        InstantTextToSpeech(times),
        InstantLanguageModel(times, first_token_s=llm_first_token_s),
    )
    return engines, times
