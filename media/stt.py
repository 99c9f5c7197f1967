"""The speech-to-text contract: one finished utterance in, one transcript out.

Per utterance rather than streaming because the engines we run (Whisper locally, `whisper-1` /
`gpt-4o-*-transcribe` remotely) decode a whole utterance at once; the VAD in front of them decides
where an utterance ends. Timing travels with the result so the call can log where latency went.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SpeechToTextError(Exception):
    """The engine failed on this utterance (not: the caller said nothing)."""


@dataclass(frozen=True)
class Transcript:
    """`text` is "" when nothing was recognised; `no_speech_prob` helps drop noise-only turns."""

    text: str
    audio_s: float  # length of the utterance
    queued_s: float  # waiting for the engine (another call was being transcribed)
    compute_s: float  # resampling + decoding
    no_speech_prob: float

    @property
    def latency_s(self) -> float:
        return self.queued_s + self.compute_s


class SpeechToText(Protocol):
    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        """`pcm16`: mono signed 16-bit little-endian samples at `sample_rate` Hz."""
        ...

    async def aclose(self) -> None: ...
