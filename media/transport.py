"""What a call needs from the line it runs on: caller events in; audio, marks and clear out.

Twilio's media stream and the browser's websocket both implement it, so one `Call` serves both. Audio
crosses this boundary as PCM16 mono at `sample_rate`, in 20 ms frames; the wire encoding (mu-law,
base64, JSON) stays inside the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class AudioIn:
    pcm: bytes


@dataclass(frozen=True, slots=True)
class MarkEchoed:
    """The far end played everything sent before this mark (or dropped it on a clear)."""

    name: str


@dataclass(frozen=True, slots=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class TextIn:
    """A line the caller typed (the browser's text box): a caller turn that skips speech-to-text."""

    text: str


TransportEvent = AudioIn | MarkEchoed | DigitPressed | TextIn


class TransportClosed(Exception):
    """Sending failed because the line is closed: the call is over."""


class Transport(Protocol):
    sample_rate: int

    def events(self) -> AsyncIterator[TransportEvent]:
        """Caller events in order; ends when the far end hangs up or the line closes."""
        ...

    async def send_audio(self, pcm: bytes) -> None: ...

    async def send_mark(self, name: str) -> None: ...

    async def clear(self) -> None:
        """Drop all audio queued at the far end; it then echoes every pending mark."""
        ...

    async def close(self) -> None:
        """Hang up from our side."""
        ...
