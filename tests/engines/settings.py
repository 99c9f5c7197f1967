"""The engine settings the tests and `bench/engines.py` run with: the documented TOML defaults."""

from __future__ import annotations

from pathlib import Path

from media.stt_whisper import WhisperSettings
from media.tts_piper import PiperSettings, PiperVoiceSettings
from personas.llm import OpenAiLlmSettings
from personas.local_llm import LocalLlmSettings

# The built-in personas' voices as migrations/0002 stores them (persona.voice), read from the database
# in the server; measured on a 20-word text at 8 kHz (bench/engines.py): median F0 / duration vs joe's
# 89 Hz / 9.0 s. Brad 75 Hz, 7.7 s; Sarah 132 Hz, 8.9 s; Alex 104 Hz, 7.1 s.
VOICES = {
    "brad": {
        "piper": {"length_scale": 0.75, "noise_scale": 0.5, "noise_w": 0.6, "pitch_semitones": -3.0, "volume": 0.9}
    },
    "sarah": {
        "piper": {"length_scale": 1.1, "noise_scale": 0.5, "noise_w": 0.8, "pitch_semitones": 7.0, "volume": 0.85}
    },
    "alex": {"piper": {"length_scale": 0.7, "noise_scale": 0.8, "noise_w": 0.8, "pitch_semitones": 2.5, "volume": 0.9}},
}
# joe's own voice (config.toml [piper]).
DEFAULT_VOICE = PiperVoiceSettings(length_scale=1.0, noise_scale=0.667, noise_w=0.8, pitch_semitones=0.0, volume=0.9)

WHISPER = WhisperSettings(
    model_dir=None,
    compute_type="int8",
    cpu_threads=2,
    beam_size=1,
    temperatures=(0.0,),
    vad_filter=True,
    language="en",
    encoder_window_s=15.0,
)


def piper(sample_rate: int) -> PiperSettings:
    return PiperSettings(model_path=None, config_path=None, sample_rate=sample_rate, default_voice=DEFAULT_VOICE)


def local_llm(data_dir: Path, model: str = "qwen2.5-coder-0.5b") -> LocalLlmSettings:
    return LocalLlmSettings(
        model=model,
        data_dir=data_dir,
        threads=2,
        context_tokens=4096,
        parallel_slots=1,
        cache_ram_mib=256,
        start_timeout_s=120.0,
        stop_timeout_s=10.0,
    )


LOCAL_REQUESTS = OpenAiLlmSettings(
    base_url="",  # filled in by LocalLlmServer.client_settings
    api_key="",
    model="",
    temperature=0.6,
    max_tokens=160,
    timeout_s=20.0,
    max_retries=0,
    reuse_connections=False,
)
