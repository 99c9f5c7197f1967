"""mu-law <-> PCM16 and the WAV helpers."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from media.codec import (
    ULAW_SILENCE,
    Pcm16Audio,
    decode_wav,
    encode_wav,
    pcm16_duration_ms,
    pcm16_to_ulaw,
    read_wav,
    ulaw_to_pcm16,
    write_wav,
)


def test_twilio_frame_decodes_to_20_ms_of_pcm16() -> None:
    frame = bytes(range(160))
    pcm = ulaw_to_pcm16(frame)
    assert len(pcm) == 320
    assert pcm16_duration_ms(pcm, 8000) == 20.0


def test_silence_code_is_pcm_zero() -> None:
    assert pcm16_to_ulaw(bytes(320)) == ULAW_SILENCE * 160
    assert ulaw_to_pcm16(ULAW_SILENCE * 4) == bytes(8)


def test_round_trip_error_stays_within_mu_law_step() -> None:
    """G.711 keeps ~13 bits of dynamics: the error grows with the level but stays a few percent."""
    t = np.arange(8000) / 8000
    signal = (np.sin(2 * np.pi * 440 * t) * 20000).astype("<i2")
    back = np.frombuffer(ulaw_to_pcm16(pcm16_to_ulaw(signal.tobytes())), "<i2").astype(np.int32)
    error = np.abs(back - signal)
    assert np.all(error <= np.abs(signal.astype(np.int32)) * 0.035 + 8)
    snr_db = 10 * np.log10(np.mean(signal.astype(float) ** 2) / np.mean(error.astype(float) ** 2))
    assert snr_db > 35


def test_odd_pcm_length_is_refused() -> None:
    with pytest.raises(ValueError, match="whole samples"):
        pcm16_to_ulaw(b"\x00\x01\x02")


def test_wav_round_trip_in_memory_and_on_disk(tmp_path: Path) -> None:
    pcm = np.arange(-800, 800, dtype="<i2").tobytes()
    assert decode_wav(encode_wav(pcm, 16000)) == Pcm16Audio(pcm, 16000)
    write_wav(tmp_path / "a.wav", pcm, 8000)
    audio = read_wav(tmp_path / "a.wav")
    assert audio == Pcm16Audio(pcm, 8000)
    assert audio.duration_ms == 200.0


def test_stereo_wav_is_refused() -> None:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(400))
    with pytest.raises(ValueError, match="2 channel"):
        decode_wav(buffer.getvalue())
