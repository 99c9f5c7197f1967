"""The text-to-speech contract: text in, PCM16 chunks out as soon as each is ready.

`voice` is a name the engine resolves from its own settings (`brad`, `sarah`, `alex`, ...), so a
persona says which voice it wants without knowing which engine speaks: Piper maps the name to
speed/pitch settings, a cloud engine to one of its voices.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol


class TextToSpeechError(Exception):
    """Synthesis failed, or the voice name is not configured."""


class TextToSpeech(Protocol):
    @property
    def sample_rate(self) -> int:
        """Rate of every chunk `synthesize` yields (mono, signed 16-bit little-endian)."""
        ...

    def synthesize(self, text: str, voice: str) -> AsyncIterator[bytes]:
        """Yield audio sentence by sentence, so playback starts before the whole text is rendered.

        Cancelling the iteration (barge-in) stops after the sentence being rendered.
        """
        ...

    async def aclose(self) -> None: ...
