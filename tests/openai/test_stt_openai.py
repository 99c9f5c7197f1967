"""OpenAiSpeechToText through the real SDK against the fake server: a WAV goes up, the text comes back."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from media.stt import SpeechToTextError
from media.stt_openai import OpenAiSpeechToText, OpenAiSttSettings
from tests.openai.fake_openai import FakeOpenAi


def _noise(seconds: float, rate: int) -> bytes:
    rng = np.random.default_rng(7)
    return (rng.normal(0, 3000, round(seconds * rate))).astype("<i2").tobytes()


@pytest.mark.parametrize("rate", [8000, 16000])
async def test_sends_a_wav_at_the_utterance_rate_and_returns_the_text(
    fake_openai: FakeOpenAi, stt_settings: Callable[..., OpenAiSttSettings], rate: int
) -> None:
    pcm = _noise(1.2, rate)
    async with OpenAiSpeechToText(stt_settings()) as stt:
        transcript = await stt.transcribe(pcm, rate)

    assert transcript.text == "call me back tomorrow morning"
    assert transcript.audio_s == pytest.approx(1.2)
    assert transcript.no_speech_prob == 0.0
    assert 0 < transcript.compute_s < 2 and transcript.queued_s == 0
    (sent,) = fake_openai.transcriptions
    assert sent["model"] == "gpt-4o-mini-transcribe" and sent["language"] == "en"
    assert sent["filename"] == "utterance.wav" and sent["content_type"] == "audio/wav"
    assert sent["audio"].sample_rate == rate and sent["audio"].pcm == pcm
    assert fake_openai.problems == []


async def test_language_is_left_out_when_not_configured(
    fake_openai: FakeOpenAi, stt_settings: Callable[..., OpenAiSttSettings]
) -> None:
    fake_openai.transcript_text = "  "
    async with OpenAiSpeechToText(stt_settings(language="", model="whisper-1")) as stt:
        transcript = await stt.transcribe(_noise(0.5, 8000), 8000)
    assert transcript.text == "" and transcript.no_speech_prob == 1.0
    assert fake_openai.transcriptions[0]["language"] is None
    assert fake_openai.transcriptions[0]["model"] == "whisper-1"


async def test_audio_under_a_tenth_of_a_second_is_not_sent(
    fake_openai: FakeOpenAi, stt_settings: Callable[..., OpenAiSttSettings]
) -> None:
    """The API answers 400 "Audio file is too short" below 0.1 s."""
    async with OpenAiSpeechToText(stt_settings()) as stt:
        transcript = await stt.transcribe(_noise(0.05, 16000), 16000)
    assert transcript.text == "" and transcript.no_speech_prob == 1.0
    assert fake_openai.transcriptions == []


async def test_http_errors_become_speech_to_text_errors(
    fake_openai: FakeOpenAi, stt_settings: Callable[..., OpenAiSttSettings]
) -> None:
    fake_openai.fault = "500"
    async with OpenAiSpeechToText(stt_settings()) as stt:
        with pytest.raises(SpeechToTextError, match="InternalServerError"):
            await stt.transcribe(_noise(0.5, 8000), 8000)
    async with OpenAiSpeechToText(stt_settings(api_key="sk-wrong")) as stt:
        with pytest.raises(SpeechToTextError, match="AuthenticationError"):
            await stt.transcribe(_noise(0.5, 8000), 8000)
    async with OpenAiSpeechToText(stt_settings(model="no-such-model")) as stt:
        with pytest.raises(SpeechToTextError, match="BadRequestError"):
            await stt.transcribe(_noise(0.5, 8000), 8000)


async def test_a_stalled_server_times_out(
    fake_openai: FakeOpenAi, stt_settings: Callable[..., OpenAiSttSettings]
) -> None:
    fake_openai.fault = "stall"
    started = time.perf_counter()
    async with OpenAiSpeechToText(stt_settings(timeout_s=0.3)) as stt:
        with pytest.raises(SpeechToTextError, match="Timeout"):
            await stt.transcribe(_noise(0.5, 8000), 8000)
    assert time.perf_counter() - started < 2


async def test_unreachable_server_and_misuse(stt_settings: Callable[..., OpenAiSttSettings]) -> None:
    async with OpenAiSpeechToText(stt_settings(base_url="http://127.0.0.1:9/v1", timeout_s=1.0)) as stt:
        with pytest.raises(SpeechToTextError, match="APIConnectionError"):
            await stt.transcribe(_noise(0.5, 8000), 8000)
        with pytest.raises(SpeechToTextError, match="bad PCM16"):
            await stt.transcribe(b"\x00\x01\x02", 8000)
    with pytest.raises(SpeechToTextError, match="not started"):
        await OpenAiSpeechToText(stt_settings()).transcribe(_noise(0.5, 8000), 8000)
    assert "sk-test" not in repr(stt_settings())
