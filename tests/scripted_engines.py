"""Scripted engines: real implementations of the engine Protocols with scripted, instant behaviour.

They stand in for Whisper, Piper and the language model where a test is about call flow, timing or
telephony rather than speech quality (the engine tests and the spoken-call test use the real ones).
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from media.call import Engines
from media.stt import Transcript
from personas.llm import Done, LanguageModelError, LlmEvent, Message, TextDelta, ToolCall, ToolSpec, Usage
from personas.tool_call_text import ContentToolCallScanner

TTS_RATE = 16000
SCRIPTED_USAGE = Usage(prompt_tokens=120, completion_tokens=15)  # what each scripted reply reports


def tone(duration_s: float, rate: int, frequency: float = 220.0, amplitude: int = 8000) -> bytes:
    count = int(duration_s * rate)
    return struct.pack(
        f"<{count}h", *(int(amplitude * math.sin(2 * math.pi * frequency * i / rate)) for i in range(count))
    )


@dataclass
class ScriptedSpeechToText:
    """Returns the scripted transcripts in order, one per utterance ('' once they run out)."""

    transcripts: deque[str] = field(default_factory=deque)
    heard: list[float] = field(default_factory=list)  # seconds of audio per utterance

    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        self.heard.append(len(pcm16) / 2 / sample_rate)
        text = self.transcripts.popleft() if self.transcripts else ""
        return Transcript(text, len(pcm16) / 2 / sample_rate, 0.0, 0.001, 0.0)

    async def aclose(self) -> None:
        pass


@dataclass
class ScriptedTextToSpeech:
    """A tone of `seconds_per_word` per word, in one chunk per sentence."""

    seconds_per_word: float = 0.25
    sample_rate: int = TTS_RATE
    spoken: list[str] = field(default_factory=list)

    async def synthesize(self, text: str, voice: object) -> AsyncIterator[bytes]:
        self.spoken.append(text)
        await asyncio.sleep(0)
        yield tone(max(1, len(text.split())) * self.seconds_per_word, self.sample_rate)

    async def aclose(self) -> None:
        pass


@dataclass
class ScriptedLanguageModel:
    """Replies from a script: each entry is text, a ToolCall, an Exception to raise, or a delay.

    Like the real model, text goes through the JSON-tool-call scanner when tools are offered (a small
    model's `{"name": ..., "arguments": ...}` written as content), and each reply ends with `usage`.
    """

    replies: deque[Sequence[object]] = field(default_factory=deque)
    default: str = "Okay. Tell me more."
    requests: list[list[Message]] = field(default_factory=list)
    usage: Usage | None = SCRIPTED_USAGE
    offered: list[list[str]] = field(default_factory=list)  # the tool names offered with each request
    temperatures: list[float | None] = field(default_factory=list)  # asked for with each request
    # each prefill: (how many replies had been asked for by then, its messages, its tool names)
    prefills: list[tuple[int, list[Message], list[str]]] = field(default_factory=list)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncIterator[LlmEvent]:
        self.requests.append(list(messages))
        self.temperatures.append(temperature)
        script = self.replies.popleft() if self.replies else [self.default]
        names = [tool["function"]["name"] for tool in tools]
        self.offered.append(names)
        scanner = ContentToolCallScanner(names) if names else None
        for item in script:
            if isinstance(item, BaseException):
                raise item
            if isinstance(item, int | float):
                await asyncio.sleep(item)
            elif isinstance(item, ToolCall):
                yield item
            else:
                for word in str(item).split(" "):
                    if scanner is None:
                        yield TextDelta(word + " ")
                        continue
                    scan = scanner.feed(word + " ")
                    if scan.text:
                        yield TextDelta(scan.text)
                    for found in scan.calls:
                        yield ToolCall("content-1", found.name, found.arguments, "content")
        if scanner is not None and (rest := scanner.finish().text):
            yield TextDelta(rest)
        yield Done("stop", self.usage)

    async def prefill(self, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> None:
        self.prefills.append((len(self.requests), list(messages), [tool["function"]["name"] for tool in tools]))

    async def aclose(self) -> None:
        pass


def scripted_engines(
    transcripts: Sequence[str] = (), replies: Sequence[Sequence[object]] = ()
) -> tuple[Engines, ScriptedSpeechToText, ScriptedTextToSpeech, ScriptedLanguageModel]:
    stt = ScriptedSpeechToText(deque(transcripts))
    tts = ScriptedTextToSpeech()
    llm = ScriptedLanguageModel(deque(replies))
    return Engines(stt, tts, llm), stt, tts, llm


__all__ = ["LanguageModelError", "scripted_engines", "tone"]
