"""Test signals for the audio primitives, all PCM16 mono at 8 kHz (Twilio's rate) unless named.

Real speech comes from committed espeak-ng fixtures (see `fixtures/make_fixtures.py`); synthetic
"voiced" audio is a harmonic series on a wobbling pitch with a syllable-rate envelope, which webrtcvad
calls speech (silero, trained on real voices, does not).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from media.codec import read_wav

RATE = 8000
FIXTURES = Path(__file__).resolve().parent / "fixtures"


class Signals:
    """Builders for test audio; every method returns PCM16 little-endian bytes at `RATE`."""

    def __init__(self) -> None:
        self.speech = read_wav(FIXTURES / "call_me_back.wav").pcm
        """"Call me back tomorrow morning.", trimmed to its first and last audible sample."""
        self.yeah = read_wav(FIXTURES / "yeah.wav").pcm
        """A short backchannel, 264 ms."""

    @staticmethod
    def ms(pcm: bytes) -> float:
        return len(pcm) / 2 / RATE * 1000

    @staticmethod
    def silence(ms: float) -> bytes:
        return bytes(2 * round(RATE * ms / 1000))

    @staticmethod
    def voiced(ms: float, f0_hz: float = 130.0, level: float = 0.3) -> bytes:
        """A vowel-like burst: harmonics up to 3.6 kHz, pitch wobble, 4 Hz syllable envelope."""
        t = np.arange(round(RATE * ms / 1000)) / RATE
        pitch = f0_hz * (1 + 0.08 * np.sin(2 * np.pi * 2.5 * t))
        phase = 2 * np.pi * np.cumsum(pitch) / RATE
        wave = sum(np.sin(k * phase) / k**0.8 for k in range(1, int(3600 / f0_hz)))
        envelope = np.sin(np.pi * np.arange(t.size) / t.size) ** 0.5 * (0.75 + 0.25 * np.sin(8 * np.pi * t))
        shaped = wave * envelope
        return (shaped / np.abs(shaped).max() * level * 32767).astype("<i2").tobytes()

    @staticmethod
    def noise(ms: float, dbfs: float, seed: int = 0) -> bytes:
        """White noise at an RMS level in dB relative to full scale; seeded, so runs repeat."""
        rms = 32768 * 10 ** (dbfs / 20)
        samples = np.random.default_rng(seed).standard_normal(round(RATE * ms / 1000)) * rms
        return np.clip(samples, -32768, 32767).astype("<i2").tobytes()

    @staticmethod
    def mix(a: bytes, b: bytes) -> bytes:
        """Sum two signals of the same length, clipped."""
        total = np.frombuffer(a, "<i2").astype(np.int32) + np.frombuffer(b, "<i2")
        return np.clip(total, -32768, 32767).astype("<i2").tobytes()

    @staticmethod
    def faded(pcm: bytes, start_ms: float, ms: float, fade_ms: float = 10.0) -> bytes:
        """A slice of `pcm` with short fades, so the cut edges are not clicks."""
        x = np.frombuffer(pcm, "<i2")[round(RATE * start_ms / 1000) :][: round(RATE * ms / 1000)]
        x = x.astype(np.float64)
        ramp = np.linspace(0.0, 1.0, round(RATE * fade_ms / 1000))
        x[: ramp.size] *= ramp
        x[-ramp.size :] *= ramp[::-1]
        return x.astype("<i2").tobytes()


@pytest.fixture(scope="session")
def signals() -> Signals:
    return Signals()
