"""The speech and language engines the server runs with, chosen in config.toml's [engines].

Embedded (offline) by default: Whisper tiny.en, Piper, and a Qwen model served by a local llama.cpp;
the language model is always reached through the openai SDK, so "local" and "openai" share one code
path and differ only in base URL and key. Each engine loads off the event loop and is closed at shutdown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from media.call import Engines
from media.stt_whisper import WhisperSpeechToText
from media.tts_piper import PiperSettings, PiperTextToSpeech, PiperVoiceSettings
from orchestrator.keys import ENGINES, SETTINGS
from personas.llm import OpenAiLanguageModel, OpenAiLlmSettings
from personas.local_llm import LocalLlmServer, LocalLlmSettings

log = logging.getLogger(__name__)


async def embedded_engines(app: web.Application) -> AsyncIterator[None]:
    """Start the configured engines (cleanup context); all are stopped when the app stops."""
    settings = app[SETTINGS]
    async with contextlib.AsyncExitStack() as stack:
        stt = WhisperSpeechToText(settings.whisper)
        await stack.enter_async_context(stt)
        tts = PiperTextToSpeech(
            PiperSettings(
                model_path=Path(settings.piper.model_path) if settings.piper.model_path else None,
                config_path=Path(settings.piper.config_path) if settings.piper.config_path else None,
                sample_rate=settings.piper.sample_rate,
                default_voice=PiperVoiceSettings(
                    length_scale=settings.piper.length_scale,
                    noise_scale=settings.piper.noise_scale,
                    noise_w=settings.piper.noise_w,
                    pitch_semitones=settings.piper.pitch_semitones,
                    volume=settings.piper.volume,
                ),
            )
        )
        await stack.enter_async_context(tts)
        request = OpenAiLlmSettings(
            base_url=settings.openai.base_url,
            api_key=settings.openai.api_key.reveal() if settings.openai.api_key else "",
            model=settings.llm.model,
            temperature=0.7,
            max_tokens=150,
            timeout_s=settings.llm.timeout_s,
            max_retries=settings.llm.max_retries,
            reuse_connections=True,
        )
        if settings.engines.llm == "local":
            local = settings.local_llm
            server = LocalLlmServer(
                LocalLlmSettings(
                    model=local.model,
                    data_dir=settings.server.data_dir,
                    threads=local.threads,
                    context_tokens=local.context_tokens,
                    parallel_slots=local.parallel_slots,
                    cache_ram_mib=local.cache_ram_mib,
                    start_timeout_s=local.start_timeout_s,
                    stop_timeout_s=local.stop_timeout_s,
                )
            )
            await stack.enter_async_context(server)
            request = server.client_settings(request)
        llm = OpenAiLanguageModel(request)
        stack.push_async_callback(llm.aclose)
        app[ENGINES] = Engines(stt=stt, tts=tts, llm=llm)
        log.info(
            "engines ready: stt=%s tts=%s llm=%s",
            settings.engines.stt,
            settings.engines.tts,
            settings.engines.llm,
        )
        yield
