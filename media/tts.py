"""The text-to-speech contract: text in, PCM16 chunks out as soon as each is ready.

`voice` is the persona's voice settings for every engine (`{"piper": {...}, "openai": {...}}`, as
stored with the persona), so a persona's voice follows it whichever engine speaks, and a user's edits
to a draft persona are heard on the next sentence: each engine reads its own part and fills the rest
from its defaults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

Voice = Mapping[str, Any]
"""A persona's voice settings, keyed by engine name."""


class TextToSpeechError(Exception):
    """Synthesis failed, or the voice name is not configured."""


class TextToSpeech(Protocol):
    @property
    def sample_rate(self) -> int:
        """Rate of every chunk `synthesize` yields (mono, signed 16-bit little-endian)."""
        ...

    def synthesize(self, text: str, voice: Voice) -> AsyncIterator[bytes]:
        """Yield audio sentence by sentence, so playback starts before the whole text is rendered.

        Cancelling the iteration (barge-in) stops after the sentence being rendered.
        """
        ...

    async def aclose(self) -> None: ...
