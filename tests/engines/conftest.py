"""Real embedded engines, each loaded once per session: Whisper, Piper and the local Qwen server.

Everything here is marked `engines` (registered below) and runs by default; `-m "not engines"`
skips the heavy part when iterating on something else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from media.stt_whisper import WhisperSpeechToText
from media.tts_piper import PiperTextToSpeech
from personas.llm import OpenAiLanguageModel
from personas.local_llm import LocalLlmServer
from tests.engines.settings import LOCAL_REQUESTS, WHISPER, local_llm, piper


@pytest.fixture(scope="session")
async def whisper() -> AsyncIterator[WhisperSpeechToText]:
    async with WhisperSpeechToText(WHISPER) as stt:
        yield stt


@pytest.fixture(scope="session")
async def piper_8k() -> AsyncIterator[PiperTextToSpeech]:
    """8 kHz output: what the phone leg carries, and cheaper to analyse."""
    async with PiperTextToSpeech(piper(8000)) as tts:
        yield tts


@pytest.fixture(scope="session")
async def local_llm_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalLlmServer]:
    async with LocalLlmServer(local_llm(tmp_path_factory.mktemp("llm-data"))) as server:
        yield server


@pytest.fixture(scope="session")
async def local_model(local_llm_server: LocalLlmServer) -> AsyncIterator[OpenAiLanguageModel]:
    model = OpenAiLanguageModel(local_llm_server.client_settings(LOCAL_REQUESTS))
    yield model
    await model.aclose()
