"""One fake OpenAI server per test (cheap: an aiohttp TestServer on 127.0.0.1), and engines pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from media.realtime_openai import RealtimeSettings
from media.stt_openai import OpenAiSttSettings
from media.tts_openai import OpenAiTtsSettings
from tests.openai.fake_openai import API_KEY, FakeOpenAi


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAi]:
    fake = FakeOpenAi()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("/v1"))
    yield fake
    fake.released.set()
    if fake.realtime_ws is not None:
        await fake.realtime_ws.close()
    await server.close()


@pytest.fixture
def stt_settings(fake_openai: FakeOpenAi) -> Callable[..., OpenAiSttSettings]:
    def make(**overrides: Any) -> OpenAiSttSettings:
        values: dict[str, Any] = {
            "base_url": fake_openai.base_url,
            "api_key": API_KEY,
            "model": "gpt-4o-mini-transcribe",
            "timeout_s": 5.0,
            "language": "en",
            "max_retries": 0,
        }
        return OpenAiSttSettings(**(values | overrides))

    return make


@pytest.fixture
def tts_settings(fake_openai: FakeOpenAi) -> Callable[..., OpenAiTtsSettings]:
    def make(**overrides: Any) -> OpenAiTtsSettings:
        values: dict[str, Any] = {
            "base_url": fake_openai.base_url,
            "api_key": API_KEY,
            "model": "gpt-4o-mini-tts",
            "default_voice": "alloy",
            "sample_rate": 16000,
            "timeout_s": 5.0,
            "max_retries": 0,
        }
        return OpenAiTtsSettings(**(values | overrides))

    return make


@pytest.fixture
def realtime_settings(fake_openai: FakeOpenAi) -> Callable[..., RealtimeSettings]:
    def make(**overrides: Any) -> RealtimeSettings:
        values: dict[str, Any] = {
            "base_url": fake_openai.base_url,
            "api_key": API_KEY,
            "model": "gpt-realtime",
            "voice": "marin",
            "vad_threshold": 0.5,
            "prefix_padding_ms": 300,
            "silence_duration_ms": 500,
            "transcription_model": "gpt-4o-mini-transcribe",
            "connect_timeout_s": 5.0,
        }
        return RealtimeSettings(**(values | overrides))

    return make
