"""Remote speech-to-text: OpenAI's transcription endpoint (`gpt-4o-mini-transcribe`, `whisper-1`, ...).

One request per utterance, the PCM16 wrapped as a WAV at its own rate (8 kHz from the phone, 16 kHz
from the browser): the API resamples itself, so resampling here would only cost time and quality.
Any OpenAI-compatible server works through `base_url`.

The API refuses audio under 0.1 s ("Audio file is too short"); such an utterance is returned as
silence without a request, as Whisper would have heard nothing in it either. The gpt-4o models
report no per-segment `no_speech_prob`, so it is 1.0 for an empty text and 0.0 otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import httpx2
import openai

from media.backoff import Backoff
from media.codec import PCM16_WIDTH, encode_wav
from media.engine import Engine
from media.stt import SpeechToTextError, Transcript

_MIN_AUDIO_S = 0.1


@dataclass(frozen=True)
class OpenAiSttSettings:
    """`timeout_s` bounds connect and each read; `max_retries` is the SDK's (connect errors, 429, 5xx)."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    timeout_s: float
    language: str  # ISO-639-1 hint ("en"); "" lets the model detect it
    max_retries: int = 1


class OpenAiSpeechToText(Engine):
    """SpeechToText over `AsyncOpenAI.audio.transcriptions`. `start()` exists for the engine shape:
    the HTTP client connects on first use."""

    def __init__(self, settings: OpenAiSttSettings) -> None:
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self.backoff = Backoff(f"speech-to-text {settings.model}")

    async def start(self) -> None:
        if self._client is not None:
            raise SpeechToTextError("openai stt already started")
        self._client = openai.AsyncOpenAI(
            base_url=self._settings.base_url,
            api_key=self._settings.api_key,
            timeout=self._settings.timeout_s,
            max_retries=self._settings.max_retries,
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        client = self._client
        if client is None:
            raise SpeechToTextError("openai stt is not started")
        if sample_rate <= 0 or len(pcm16) % PCM16_WIDTH:
            raise SpeechToTextError(f"bad PCM16: {len(pcm16)} bytes at {sample_rate} Hz")
        audio_s = len(pcm16) / PCM16_WIDTH / sample_rate
        if audio_s < _MIN_AUDIO_S:
            return Transcript("", audio_s, 0.0, 0.0, 1.0)
        if refusal := self.backoff.refusal():
            raise SpeechToTextError(refusal)
        started = time.perf_counter()
        wav = encode_wav(pcm16, sample_rate)
        language = self._settings.language or openai.omit
        try:
            result = await client.audio.transcriptions.create(
                model=self._settings.model,
                file=("utterance.wav", wav, "audio/wav"),
                language=language,
                response_format="json",
            )
        except (openai.OpenAIError, httpx2.HTTPError) as error:
            self.backoff.failed()
            raise SpeechToTextError(
                f"{self._settings.model} failed on {audio_s:.2f} s of audio: {type(error).__name__}: {error}"
            ) from error
        self.backoff.succeeded()
        text = (result.text or "").strip()
        return Transcript(text, audio_s, 0.0, time.perf_counter() - started, 0.0 if text else 1.0)
