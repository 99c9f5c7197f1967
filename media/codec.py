"""Sample formats at the edges of a call: G.711 mu-law for the phone, PCM16 WAV for files and engines.

Twilio Media Streams carry raw mu-law at 8 kHz mono with no header (one byte a sample, 160 bytes per
20 ms); every engine behind it (VAD, STT, TTS) works on signed 16-bit little-endian PCM. `audioop` does
the G.711 tables in C (~2.5 us per frame); on Python 3.13+ the `audioop-lts` wheel provides the same
module under the same name, so nothing here changes when it stands in.
"""

from __future__ import annotations

import io
import warnings
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Deprecated in 3.11, removed in 3.13 where the audioop-lts wheel installs the same module: the warning
# would only repeat what the Python pin in pyproject.toml already says.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

ULAW_SAMPLE_RATE = 8000
"""G.711 on the phone network is always 8 kHz mono."""

ULAW_SILENCE = b"\xff"
"""The mu-law code of PCM zero; padding with 0x00 would be a full-scale negative sample (a click)."""

PCM16_SILENCE = b"\x00"
PCM16_WIDTH = 2


def ulaw_to_pcm16(ulaw: bytes) -> bytes:
    """Decode mu-law bytes to PCM16 little-endian (twice the length)."""
    return audioop.ulaw2lin(ulaw, PCM16_WIDTH)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """Encode PCM16 little-endian to mu-law; an odd trailing byte is a framing bug upstream, so it raises."""
    if len(pcm) % PCM16_WIDTH:
        raise ValueError(f"PCM16 needs whole samples, got {len(pcm)} bytes")
    return audioop.lin2ulaw(pcm, PCM16_WIDTH)


def pcm16_rms(pcm: bytes) -> float:
    """Root-mean-square level of PCM16 audio in sample units (full scale 32768), computed in C."""
    return float(audioop.rms(pcm, PCM16_WIDTH))


def pcm16_duration_ms(pcm: bytes, sample_rate: int) -> float:
    """Duration of mono PCM16 audio, from its length."""
    return len(pcm) // PCM16_WIDTH * 1000 / sample_rate


@dataclass(frozen=True, slots=True)
class Pcm16Audio:
    """Mono PCM16 little-endian audio and its rate: what a WAV file holds once decoded."""

    pcm: bytes
    sample_rate: int

    @property
    def duration_ms(self) -> float:
        return pcm16_duration_ms(self.pcm, self.sample_rate)


def decode_wav(source: bytes | BinaryIO) -> Pcm16Audio:
    """Read a PCM16 mono WAV; anything else raises, because resampling or downmixing here would hide a
    mismatch between what an engine produces and what the pipeline expects."""
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    with wave.open(stream, "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != PCM16_WIDTH or wav.getcomptype() != "NONE":
            raise ValueError(
                f"expected PCM16 mono WAV, got {wav.getnchannels()} channel(s), "
                f"{wav.getsampwidth() * 8}-bit, compression {wav.getcomptype()!r}"
            )
        return Pcm16Audio(pcm=wav.readframes(wav.getnframes()), sample_rate=wav.getframerate())


def encode_wav(pcm: bytes, sample_rate: int) -> bytes:
    """A PCM16 mono WAV in memory, e.g. the body of an upload to a remote STT engine."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(PCM16_WIDTH)
        wav.setframerate(sample_rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


def read_wav(path: Path | str) -> Pcm16Audio:
    """Blocking file read: call it at startup, in tests, or through `asyncio.to_thread`."""
    return decode_wav(Path(path).read_bytes())


def write_wav(path: Path | str, pcm: bytes, sample_rate: int) -> None:
    """Blocking file write: call it through `asyncio.to_thread` from a coroutine."""
    Path(path).write_bytes(encode_wav(pcm, sample_rate))
