"""A failing remote engine is backed off: after 3 failures in a row requests are refused at once (no request
reaches the provider, the call says its fallback without waiting), and it is tried again after the pause.

The engines are the real OpenAI-compatible clients against the fake OpenAI server (a real HTTP server on
127.0.0.1 answering 500 like the provider does when it is down).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from media.stt import SpeechToTextError
from media.stt_openai import OpenAiSpeechToText, OpenAiSttSettings
from media.tts import TextToSpeechError
from media.tts_openai import OpenAiTextToSpeech, OpenAiTtsSettings
from personas.llm import LanguageModelError, OpenAiLanguageModel, OpenAiLlmSettings, TextDelta
from tests.openai.conftest import fake_openai, stt_settings, tts_settings  # noqa: F401  (fixtures)
from tests.openai.fake_openai import API_KEY, FakeOpenAi

SPEECH = b"\x10\x20" * 8000  # 1 s at 8 kHz


async def _reply(model: OpenAiLanguageModel) -> str:
    text = ""
    async for event in model.complete([{"role": "user", "content": "hi"}]):
        if isinstance(event, TextDelta):
            text += event.text
    return text


async def _speech(tts: OpenAiTextToSpeech) -> bytes:
    return b"".join([chunk async for chunk in tts.synthesize("Hello there.", {})])


@pytest.fixture
async def chat(fake_openai: FakeOpenAi) -> AsyncIterator[OpenAiLanguageModel]:  # noqa: F811
    settings = OpenAiLlmSettings(
        base_url=fake_openai.base_url,
        api_key=API_KEY,
        model="gpt-4o-mini",
        temperature=0.7,
        max_tokens=50,
        timeout_s=2.0,
        max_retries=0,
        reuse_connections=True,
    )
    model = OpenAiLanguageModel(settings)
    yield model
    await model.aclose()


async def test_language_model_backs_off_then_recovers(fake_openai: FakeOpenAi, chat: OpenAiLanguageModel) -> None:  # noqa: F811
    fake_openai.fault = "500"
    for _ in range(3):
        with pytest.raises(LanguageModelError, match="InternalServerError"):
            await _reply(chat)
    started = time.perf_counter()
    with pytest.raises(LanguageModelError, match="backing off"):
        await _reply(chat)
    assert time.perf_counter() - started < 0.05 and len(fake_openai.chat_requests) == 3  # never sent
    fake_openai.fault = None
    await asyncio.sleep(1.05)  # the first pause
    assert (await _reply(chat)).strip() and chat.backoff.failures == 0


async def test_speech_engines_back_off_then_recover(
    fake_openai: FakeOpenAi,  # noqa: F811
    stt_settings: Callable[..., OpenAiSttSettings],  # noqa: F811
    tts_settings: Callable[..., OpenAiTtsSettings],  # noqa: F811
) -> None:
    fake_openai.fault = "500"
    async with (
        OpenAiSpeechToText(stt_settings(max_retries=0)) as stt,
        OpenAiTextToSpeech(tts_settings(max_retries=0)) as tts,
    ):
        for _ in range(3):
            with pytest.raises(SpeechToTextError, match="InternalServerError"):
                await stt.transcribe(SPEECH, 8000)
            with pytest.raises(TextToSpeechError, match="InternalServerError"):
                await _speech(tts)
        with pytest.raises(SpeechToTextError, match="backing off"):
            await stt.transcribe(SPEECH, 8000)
        with pytest.raises(TextToSpeechError, match="backing off"):
            await _speech(tts)
        assert len(fake_openai.transcriptions) == 3 and len(fake_openai.speech_requests) == 3
        fake_openai.fault = None
        await asyncio.sleep(1.05)
        assert (await stt.transcribe(SPEECH, 8000)).text and await _speech(tts)
