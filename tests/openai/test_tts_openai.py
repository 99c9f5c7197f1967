"""OpenAiTextToSpeech through the real SDK against the fake server's streamed 24 kHz PCM."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest

from media.tts import TextToSpeechError
from media.tts_openai import OpenAiTextToSpeech, OpenAiTtsSettings
from tests.openai.fake_openai import FakeOpenAi

VOICE = {"piper": {"length_scale": 0.8}, "openai": {"voice": "onyx", "instructions": "Warm and unhurried."}}


def _peak_hz(pcm: bytes, rate: int) -> float:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
async def test_yields_the_tone_at_the_configured_rate_sentence_by_sentence(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings], rate: int
) -> None:
    async with OpenAiTextToSpeech(tts_settings(sample_rate=rate)) as tts:
        assert tts.sample_rate == rate
        chunks = [chunk async for chunk in tts.synthesize("Hello there. How are you today?", VOICE)]

    assert all(len(chunk) % 2 == 0 for chunk in chunks)
    pcm = b"".join(chunks)
    # two sentences, 0.5 s of tone each, every sample accounted for (the resampler is flushed per sentence)
    assert len(pcm) // 2 == pytest.approx(2 * 0.5 * rate, abs=2)
    assert _peak_hz(pcm, rate) == pytest.approx(440, abs=3)
    assert [r["input"] for r in fake_openai.speech_requests] == ["Hello there.", "How are you today?"]
    for request in fake_openai.speech_requests:
        assert request["model"] == "gpt-4o-mini-tts"
        assert request["voice"] == "onyx"
        assert request["response_format"] == "pcm"
        assert request["instructions"] == "Warm and unhurried."
    assert fake_openai.problems == []


async def test_instructions_only_go_to_gpt_4o_mini_tts_and_the_default_voice_fills_in(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    async with OpenAiTextToSpeech(tts_settings(model="tts-1")) as tts:
        assert [c async for c in tts.synthesize("One.", VOICE)]
    async with OpenAiTextToSpeech(tts_settings()) as tts:
        assert [c async for c in tts.synthesize("Two.", {"piper": {}})]
    tts1, default = fake_openai.speech_requests
    assert tts1["model"] == "tts-1" and tts1["voice"] == "onyx" and "instructions" not in tts1
    assert default["voice"] == "alloy" and "instructions" not in default
    assert fake_openai.problems == []


async def test_audio_streams_before_the_body_is_complete(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    fake_openai.chunk_delay_s = 0.08  # body takes 0.4 s
    async with OpenAiTextToSpeech(tts_settings()) as tts:
        first_at = None
        async for _chunk in tts.synthesize("Just one sentence.", VOICE):
            first_at = first_at or time.perf_counter()
    (body_done,) = fake_openai.speech_body_done
    assert first_at is not None and body_done - first_at > 0.2


async def test_cancelling_mid_sentence_stops_cleanly_and_the_next_reply_works(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    async with OpenAiTextToSpeech(tts_settings()) as tts:
        stream = tts.synthesize("First sentence. Second sentence.", VOICE)
        assert await anext(stream)
        await stream.aclose()  # barge-in
        pcm = b"".join([c async for c in tts.synthesize("Again.", VOICE)])
    assert len(pcm) // 2 == pytest.approx(8000, abs=2)
    assert [r["input"] for r in fake_openai.speech_requests] == ["First sentence.", "Again."]


async def test_server_errors_become_text_to_speech_errors(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    fake_openai.fault = "500"
    async with OpenAiTextToSpeech(tts_settings()) as tts:
        with pytest.raises(TextToSpeechError, match="InternalServerError"):
            [c async for c in tts.synthesize("Hello.", VOICE)]
    async with OpenAiTextToSpeech(tts_settings(api_key="sk-wrong")) as tts:
        with pytest.raises(TextToSpeechError, match="AuthenticationError"):
            [c async for c in tts.synthesize("Hello.", VOICE)]


async def test_one_500_is_retried_before_any_audio(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    fake_openai.fault = "500-once"
    async with OpenAiTextToSpeech(tts_settings(max_retries=1)) as tts:
        pcm = b"".join([c async for c in tts.synthesize("Hello.", VOICE)])
    assert len(pcm) // 2 == pytest.approx(8000, abs=2)
    assert len(fake_openai.speech_requests) == 2


async def test_a_stall_mid_body_times_out(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    fake_openai.fault = "stall"
    started = time.perf_counter()
    chunks = []
    async with OpenAiTextToSpeech(tts_settings(timeout_s=0.3)) as tts:
        with pytest.raises(TextToSpeechError, match="ReadTimeout"):
            async for chunk in tts.synthesize("Hello.", VOICE):
                chunks.append(chunk)
    assert time.perf_counter() - started < 2
    assert chunks, "the audio before the stall was already played"


@pytest.mark.parametrize(
    ("fault", "error"), [("truncate", "RemoteProtocolError.*expected 24000"), ("odd", "24001 bytes of PCM16")]
)
async def test_a_body_cut_short_or_mid_sample_is_an_error(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings], fault: str, error: str
) -> None:
    fake_openai.fault = fault  # type: ignore[assignment]
    async with OpenAiTextToSpeech(tts_settings()) as tts:
        with pytest.raises(TextToSpeechError, match=error):
            [c async for c in tts.synthesize("Hello.", VOICE)]


async def test_refusals_before_any_request(
    fake_openai: FakeOpenAi, tts_settings: Callable[..., OpenAiTtsSettings]
) -> None:
    async with OpenAiTextToSpeech(tts_settings()) as tts:
        with pytest.raises(TextToSpeechError, match="4096"):
            [c async for c in tts.synthesize("word " * 1000, VOICE)]
        with pytest.raises(TextToSpeechError, match="invalid openai voice"):
            [c async for c in tts.synthesize("Hello.", {"openai": {"voice": ""}})]
        with pytest.raises(TextToSpeechError, match="mapping"):
            [c async for c in tts.synthesize("Hello.", {"openai": "onyx"})]
        assert [c async for c in tts.synthesize("   ", VOICE)] == []
    assert fake_openai.speech_requests == []
    with pytest.raises(TextToSpeechError, match="not started"):
        [c async for c in OpenAiTextToSpeech(tts_settings()).synthesize("Hello.", VOICE)]
    assert "sk-test" not in repr(tts_settings())
