"""The speech and language engines the server runs with, chosen in config.toml's [engines].

Embedded (offline) by default: Whisper tiny.en, Piper, and a Qwen model served by a local llama.cpp.
Any job can go to OpenAI (or a compatible endpoint) instead. The language model is always reached
through the openai SDK, so "local" and "openai" share one code path and differ only in base URL and key.
Each engine loads off the event loop and is closed at shutdown.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from media.call import CallPlan, Engines
from media.realtime_openai import RealtimeSession, RealtimeSettings
from media.stt_openai import OpenAiSpeechToText, OpenAiSttSettings
from media.stt_whisper import WhisperSpeechToText
from media.tts_openai import OpenAiTextToSpeech, OpenAiTtsSettings
from media.tts_piper import PiperSettings, PiperTextToSpeech, PiperVoiceSettings
from orchestrator.config import Settings
from orchestrator.keys import ENGINES, SETTINGS
from personas.llm import LanguageModel, OpenAiLanguageModel, OpenAiLlmSettings
from personas.local_llm import LocalLlmServer, LocalLlmSettings

log = logging.getLogger(__name__)


def _api_key(settings: Settings) -> str:
    return settings.openai.api_key.reveal() if settings.openai.api_key else ""


def speech_to_text(settings: Settings) -> OpenAiSpeechToText | WhisperSpeechToText:
    if settings.engines.stt == "openai":
        section = settings.openai_stt
        return OpenAiSpeechToText(
            OpenAiSttSettings(
                base_url=settings.openai.base_url,
                api_key=_api_key(settings),
                model=section.model,
                timeout_s=section.timeout_s,
                language=section.language,
                max_retries=section.max_retries,
            )
        )
    return WhisperSpeechToText(settings.whisper)


def text_to_speech(settings: Settings) -> OpenAiTextToSpeech | PiperTextToSpeech:
    if settings.engines.tts == "openai":
        section = settings.openai_tts
        return OpenAiTextToSpeech(
            OpenAiTtsSettings(
                base_url=settings.openai.base_url,
                api_key=_api_key(settings),
                model=section.model,
                default_voice=section.default_voice,
                sample_rate=section.sample_rate,
                timeout_s=section.timeout_s,
                max_retries=section.max_retries,
            )
        )
    piper = settings.piper
    return PiperTextToSpeech(
        PiperSettings(
            model_path=Path(piper.model_path) if piper.model_path else None,
            config_path=Path(piper.config_path) if piper.config_path else None,
            sample_rate=piper.sample_rate,
            default_voice=PiperVoiceSettings(
                length_scale=piper.length_scale,
                noise_scale=piper.noise_scale,
                noise_w=piper.noise_w,
                pitch_semitones=piper.pitch_semitones,
                volume=piper.volume,
            ),
        )
    )


def realtime_session(settings: Settings, plan: CallPlan) -> RealtimeSession:
    """One call's OpenAI Realtime session ([engines] mode = "realtime"): the persona's prompt, voice,
    turn-taking and tools, as the pipeline would give them to its own stages."""
    section = settings.openai_realtime
    voice = plan.voice.get("openai", {})
    silence_ms = plan.end_silence_ms if plan.end_silence_ms is not None else section.silence_duration_ms
    return RealtimeSession(
        RealtimeSettings(
            base_url=settings.openai.base_url,
            api_key=_api_key(settings),
            model=section.model,
            voice=section.default_voice,
            vad_threshold=section.vad_threshold,
            prefix_padding_ms=section.prefix_padding_ms,
            silence_duration_ms=int(silence_ms),
            transcription_model=section.transcription_model,
            connect_timeout_s=section.connect_timeout_s,
        ),
        instructions=plan.system_prompt,
        # Realtime tools are flat: {"type", "name", "description", "parameters"}, not chat's {"function": {...}}.
        tools=[{"type": "function", **tool["function"]} for tool in plan.tools],
        voice=voice.get("voice") if isinstance(voice, dict) else None,
    )


async def language_model(settings: Settings, stack: contextlib.AsyncExitStack) -> LanguageModel:
    """The chat model; for "local", the llama.cpp server is started first (and stopped by `stack`)."""
    request = OpenAiLlmSettings(
        base_url=settings.openai.base_url,
        api_key=_api_key(settings),
        model=settings.llm.model,
        temperature=0.7,  # every request sends the persona's own temperature and reply cap
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
        request = dataclasses.replace(server.client_settings(request), prefill=local.warm_first_reply)
    llm = OpenAiLanguageModel(request)
    stack.push_async_callback(llm.aclose)
    return llm


async def configured_engines(app: web.Application) -> AsyncIterator[None]:
    """Start the configured engines (cleanup context); all are stopped when the app stops."""
    settings = app[SETTINGS]
    if settings.engines.instant_stand_ins:  # tests and benchmarks only: a real server process without models
        try:
            from bench.instant_engines import instant_engines
        except ImportError as exc:
            raise RuntimeError("[engines] instant_stand_ins needs the repository checkout (bench/)") from exc
        app[ENGINES] = instant_engines()[0]
        log.warning("engines: INSTANT STAND-INS (tests and benchmarks only; no speech recognition or model)")
        yield
        return
    async with contextlib.AsyncExitStack() as stack:
        stt = speech_to_text(settings)
        await stack.enter_async_context(stt)
        tts = text_to_speech(settings)
        await stack.enter_async_context(tts)
        llm = await language_model(settings, stack)
        app[ENGINES] = Engines(stt=stt, tts=tts, llm=llm)
        engines = settings.engines
        log.info("engines ready: stt=%s tts=%s llm=%s", engines.stt, engines.tts, engines.llm)
        yield
