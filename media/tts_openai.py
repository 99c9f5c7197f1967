"""Remote text-to-speech: OpenAI's speech endpoint (`gpt-4o-mini-tts`, `tts-1`, `tts-1-hd`).

One request per sentence, so the first sentence plays while the model still renders the rest, and a
barge-in abandons at most one request. `response_format="pcm"` is raw 24 kHz PCM16 mono with no
header: the body is resampled as it streams in (one soxr stream per reply, flushed at the end of each
sentence so no sentence waits on the next request for its last ~30 ms), never buffered whole.

The endpoint takes at most 4096 characters per request; a sentence longer than that (the splitter
cuts long runs at commas, so only text without punctuation gets there) is refused before anything is
sent rather than cut mid-word. `instructions` (tone, accent, pace) is only accepted by the
gpt-4o-mini-tts family; the older models reject the field, so it is sent only to them.

Failures before or during the body (HTTP status, connect, a stall longer than `timeout_s` between
reads, a connection dropped mid-body, an odd byte count) surface as TextToSpeechError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field

import httpx2
import openai

from media.backoff import Backoff
from media.codec import PCM16_WIDTH
from media.engine import Engine
from media.resample import StreamResampler
from media.sentences import SentenceSplitter
from media.tts import TextToSpeechError, Voice

OPENAI_PCM_RATE = 24000
"""`response_format="pcm"` is always 24 kHz."""

MAX_INPUT_CHARS = 4096


@dataclass(frozen=True)
class OpenAiTtsSettings:
    """`default_voice` applies when the persona has no "openai" voice; `sample_rate` is the output rate."""

    base_url: str
    api_key: str = field(repr=False)
    model: str
    default_voice: str
    sample_rate: int
    timeout_s: float  # connect and each read: a stall, not the whole sentence
    max_retries: int = 1  # the SDK's, before any audio only: a retry never repeats speech


@dataclass(frozen=True)
class OpenAiVoice:
    """A persona's "openai" voice settings over the defaults."""

    voice: str
    instructions: str


class OpenAiTextToSpeech(Engine):
    """TextToSpeech over `AsyncOpenAI.audio.speech` streaming responses."""

    def __init__(self, settings: OpenAiTtsSettings) -> None:
        if settings.sample_rate <= 0:
            raise TextToSpeechError(f"bad output rate {settings.sample_rate}")
        self._settings = settings
        self._client: openai.AsyncOpenAI | None = None
        self.backoff = Backoff(f"text-to-speech {settings.model}")

    @property
    def sample_rate(self) -> int:
        return self._settings.sample_rate

    async def start(self) -> None:
        if self._client is not None:
            raise TextToSpeechError("openai tts already started")
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

    def voice_shape(self, voice: Voice) -> OpenAiVoice:
        settings = voice.get("openai", {})
        if not isinstance(settings, Mapping):
            raise TextToSpeechError("openai voice settings must be a mapping")
        name = settings.get("voice", self._settings.default_voice)
        instructions = settings.get("instructions", "")
        if not isinstance(name, str) or not name.strip() or not isinstance(instructions, str):
            raise TextToSpeechError(f"invalid openai voice settings: {dict(settings)!r}")
        return OpenAiVoice(name.strip(), instructions.strip())

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[bytes]:
        client = self._client
        if client is None:
            raise TextToSpeechError("openai tts is not started")
        shape = self.voice_shape(voice)
        sentences = SentenceSplitter().split(text)
        too_long = next((s for s in sentences if len(s) > MAX_INPUT_CHARS), None)
        if too_long is not None:
            raise TextToSpeechError(f"{len(too_long)} characters in one sentence, the limit is {MAX_INPUT_CHARS}")
        resampler = StreamResampler(OPENAI_PCM_RATE, self.sample_rate)
        for sentence in sentences:
            async for chunk in self._speak(client, sentence, shape, resampler):
                yield chunk

    async def _speak(
        self, client: openai.AsyncOpenAI, sentence: str, shape: OpenAiVoice, resampler: StreamResampler
    ) -> AsyncIterator[bytes]:
        model = self._settings.model
        received = 0
        if refusal := self.backoff.refusal():
            raise TextToSpeechError(refusal)
        try:
            async with client.audio.speech.with_streaming_response.create(
                model=model,
                voice=shape.voice,
                input=sentence,
                response_format="pcm",
                instructions=shape.instructions if shape.instructions and _takes_instructions(model) else openai.omit,
            ) as response:
                self.backoff.succeeded()
                async for body in response.iter_bytes():  # as it arrives: a chunk size would hold audio back
                    received += len(body)
                    chunk = resampler.process(body)
                    if chunk:
                        yield chunk
        except (openai.OpenAIError, httpx2.HTTPError) as error:
            resampler.reset()
            if received == 0:  # refused or unreachable (a body broken midway was still an answer)
                self.backoff.failed()
            raise TextToSpeechError(f"{model} failed on {sentence[:60]!r}: {type(error).__name__}: {error}") from error
        if received == 0 or received % PCM16_WIDTH:
            resampler.reset()
            raise TextToSpeechError(f"{model} returned {received} bytes of PCM16 for {sentence[:60]!r}")
        tail = resampler.flush()
        if tail:
            yield tail


def _takes_instructions(model: str) -> bool:
    return model.startswith("gpt-4o-mini-tts")
