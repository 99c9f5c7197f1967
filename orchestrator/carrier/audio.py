"""Telephone audio: G.711 mu-law at 8 kHz, plus the WAV and resampling the phone needs.

The codec is written with numpy because `audioop` is deprecated (gone in 3.13). All functions here
are pure and may block on files: callers run the file ones in `asyncio.to_thread`.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import soxr

RATE_HZ = 8000
FRAME_MS = 20
FRAME_BYTES = RATE_HZ * FRAME_MS // 1000  # 160 mu-law bytes = 20 ms, Twilio's media chunk
SILENCE_BYTE = 0xFF  # mu-law encoding of 0
_BIAS = 0x84
_CLIP = 8159


def _decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(u & 0x80, -magnitude, magnitude).astype(np.int16)


_DECODE = _decode_table()


def mulaw_encode(pcm16: bytes) -> bytes:
    """PCM16 little-endian -> mu-law bytes, bit-exact with the reference G.711 coder (and audioop)."""
    x = np.frombuffer(pcm16, dtype="<i2").astype(np.int32) >> 2  # 14-bit, floor like C's >>
    mask = np.where(x < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(x), _CLIP) + (_BIAS >> 2)
    segment = np.maximum(np.frexp(magnitude)[1] - 6, 0)  # 0x3F ends segment 0, 0x7F segment 1, ...
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8).tobytes()


def mulaw_decode(mulaw: bytes) -> bytes:
    """mu-law bytes -> PCM16 little-endian."""
    return _DECODE[np.frombuffer(mulaw, dtype=np.uint8)].astype("<i2").tobytes()


def silence_pcm(duration_s: float) -> bytes:
    """PCM16 silence at 8 kHz, whole samples."""
    return bytes(2 * round(duration_s * RATE_HZ))


def resample_pcm(pcm16: bytes, rate_hz: int, channels: int = 1) -> bytes:
    """Whole-clip PCM16 at any rate/channel count -> 8 kHz mono PCM16 (one call, so no edge clicks)."""
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    if rate_hz != RATE_HZ and len(samples):
        samples = soxr.resample(samples, rate_hz, RATE_HZ, quality="HQ")
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def read_wav_8k(path: Path) -> bytes:
    """A PCM WAV file (8/16/32-bit, any rate, any channels) as 8 kHz mono PCM16. Blocking."""
    with wave.open(str(path), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if width == 1:
        pcm = ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype("<i2").tobytes()
    elif width == 2:
        pcm = raw
    elif width == 4:
        pcm = (np.frombuffer(raw, dtype="<i4") >> 16).astype("<i2").tobytes()
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported")
    return resample_pcm(pcm, rate, channels)


def write_wav_8k(path: Path, pcm16: bytes) -> None:
    """Write 8 kHz mono PCM16 as a WAV file, creating its folder. Blocking."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE_HZ)
        wav.writeframes(pcm16)


def frames_of(mulaw: bytes) -> list[bytes]:
    """Split mu-law audio into 20 ms frames, padding the last with silence as a phone line would."""
    frames = [mulaw[i : i + FRAME_BYTES] for i in range(0, len(mulaw), FRAME_BYTES)]
    if frames and len(frames[-1]) < FRAME_BYTES:
        frames[-1] += bytes([SILENCE_BYTE]) * (FRAME_BYTES - len(frames[-1]))
    return frames
