"""The engine settings the tests and `bench/engines.py` run with: the documented TOML defaults."""

from __future__ import annotations

from pathlib import Path

from media.stt_whisper import WhisperSettings
from media.tts_piper import PiperSettings, PiperVoiceSettings
from personas.llm import OpenAiLlmSettings
from personas.local_llm import LocalLlmSettings

VOICES = {
    # measured on a 20-word text at 8 kHz (bench/engines.py): median F0 / duration vs joe's 89 Hz / 9.0 s
    # no-excuses coach: lower, brisk, steady (75 Hz, 7.7 s)
    "brad": PiperVoiceSettings(length_scale=0.75, noise_scale=0.5, noise_w=0.6, pitch_semitones=-3.0, volume=0.9),
    # warm friend: clearly higher, unhurried, softer (132 Hz, 8.9 s)
    "sarah": PiperVoiceSettings(length_scale=1.1, noise_scale=0.5, noise_w=0.8, pitch_semitones=7.0, volume=0.85),
    # energetic challenger: quickest, brighter, livelier prosody (104 Hz, 7.1 s)
    "alex": PiperVoiceSettings(length_scale=0.7, noise_scale=0.8, noise_w=0.8, pitch_semitones=2.5, volume=0.9),
}

WHISPER = WhisperSettings(
    model_dir=None,
    compute_type="int8",
    cpu_threads=2,
    beam_size=1,
    temperatures=(0.0,),
    vad_filter=True,
    language="en",
)


def piper(sample_rate: int) -> PiperSettings:
    return PiperSettings(model_path=None, config_path=None, sample_rate=sample_rate, voices=VOICES)


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
