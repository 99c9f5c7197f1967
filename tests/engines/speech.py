"""Helpers for tests that listen to synthesized speech."""

from __future__ import annotations

import warnings
from contextlib import aclosing

from media.tts import TextToSpeech, Voice
from tests.engines.settings import VOICES

with warnings.catch_warnings():  # deprecated in 3.11, still the reference G.711 coder up to 3.12
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop


async def spoken(tts: TextToSpeech, text: str, persona: str | Voice) -> list[bytes]:
    """All chunks of one synthesis, in order (`persona`: a built-in's name or voice settings)."""
    voice = VOICES[persona] if isinstance(persona, str) else persona
    async with aclosing(tts.synthesize(text, voice)) as chunks:
        return [chunk async for chunk in chunks]


def mulaw_round_trip(pcm16: bytes) -> bytes:
    """The phone leg: linear -> G.711 mu-law -> linear, as Twilio carries it."""
    return audioop.ulaw2lin(audioop.lin2ulaw(pcm16, 2), 2)
