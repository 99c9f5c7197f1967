"""Both VAD engines: exact windows, stream-time stamps, speech found where it is, noise ignored, cost."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from media.resample import resample
from media.vad import (
    SileroVoiceActivity,
    VadSettings,
    VadWindow,
    WebRtcVoiceActivity,
    voice_activity,
)
from tests.media.conftest import RATE, Signals

ENGINES = ["silero", "webrtc"]


def settings(engine: str) -> VadSettings:
    return VadSettings(engine=engine, threshold=0.5, webrtc_mode=3)  # type: ignore[arg-type]


def speech_spans(windows: list[VadWindow]) -> list[tuple[float, float]]:
    spans: list[tuple[float, float]] = []
    for w in windows:
        if not w.speech:
            continue
        if spans and spans[-1][1] == w.start_ms:
            spans[-1] = (spans[-1][0], w.end_ms)
        else:
            spans.append((w.start_ms, w.end_ms))
    return spans


@pytest.mark.parametrize(
    ("engine", "rate", "samples"),
    [("silero", 8000, 256), ("silero", 16000, 512), ("webrtc", 8000, 160), ("webrtc", 16000, 320)],
)
def test_windows_are_exact_and_stamped_in_stream_time(engine: str, rate: int, samples: int) -> None:
    vad = voice_activity(settings(engine), rate)
    pcm = bytes(2 * rate)  # 1 s
    windows: list[VadWindow] = []
    for i in range(0, len(pcm), 333):  # chunks that never line up with a window
        windows += vad.feed(pcm[i : i + 333])
    assert all(len(w.pcm) == 2 * samples for w in windows)
    assert len(windows) == rate // samples
    step_ms = samples * 1000 / rate
    assert [w.start_ms for w in windows] == pytest.approx([n * step_ms for n in range(len(windows))])
    assert all(w.end_ms == pytest.approx(w.start_ms + step_ms) for w in windows)
    assert vad.window_ms == pytest.approx(step_ms)


@pytest.mark.parametrize("engine", ENGINES)
def test_chunking_does_not_change_verdicts(engine: str, signals: Signals) -> None:
    pcm = signals.silence(300) + signals.speech + signals.silence(500)
    whole = voice_activity(settings(engine), RATE).feed(pcm)
    pieces: list[VadWindow] = []
    vad = voice_activity(settings(engine), RATE)
    for i in range(0, len(pcm), 77):
        pieces += vad.feed(pcm[i : i + 77])
    assert [(w.start_ms, w.speech) for w in pieces] == [(w.start_ms, w.speech) for w in whole]
    assert [w.probability for w in pieces] == pytest.approx([w.probability for w in whole])


@pytest.mark.parametrize("engine", ENGINES)
def test_speech_is_found_where_it_is(engine: str, signals: Signals) -> None:
    """Onset within two windows of the first audible sample; the end may trail (both engines hold speech
    ~100 ms past the last sound), but by no more than 200 ms."""
    pcm = signals.silence(300) + signals.speech + signals.silence(800)
    spans = speech_spans(voice_activity(settings(engine), RATE).feed(pcm))
    speech_end_ms = 300 + signals.ms(signals.speech)
    assert spans[0][0] == pytest.approx(300, abs=64)
    assert speech_end_ms - 20 <= spans[-1][1] <= speech_end_ms + 200
    voiced_ms = sum(end - start for start, end in spans)
    assert voiced_ms > 0.9 * signals.ms(signals.speech)


def test_silero_works_at_16k(signals: Signals) -> None:
    pcm = resample(signals.silence(300) + signals.speech + signals.silence(500), RATE, 16000)
    spans = speech_spans(voice_activity(settings("silero"), 16000).feed(pcm))
    speech_end_ms = 300 + signals.ms(signals.speech)
    assert spans[0][0] == pytest.approx(300, abs=64)
    assert speech_end_ms - 20 <= spans[-1][1] <= speech_end_ms + 200
    assert sum(end - start for start, end in spans) > 0.9 * signals.ms(signals.speech)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dbfs", [-60, -45, -35])
def test_low_noise_is_not_speech(engine: str, dbfs: float, signals: Signals) -> None:
    """Silero hears no voice in it at all; webrtcvad flags its first few frames of any stream while it
    adapts, never a 200 ms run."""
    windows = voice_activity(settings(engine), RATE).feed(signals.noise(3000, dbfs))
    longest = max((end - start for start, end in speech_spans(windows)), default=0.0)
    assert longest < 200
    if engine == "silero":
        assert not any(w.speech for w in windows)


def test_silero_ignores_a_buzzing_tone_webrtc_does_not(signals: Signals) -> None:
    """Why silero is the default: a harmonic buzz with a syllable rhythm (a TV, a fan's hum) is not a
    voice to silero; webrtcvad, which looks at band energies, takes it for one."""
    pcm = signals.silence(200) + signals.voiced(1000) + signals.silence(300)
    silero = speech_spans(voice_activity(settings("silero"), RATE).feed(pcm))
    webrtc = speech_spans(voice_activity(settings("webrtc"), RATE).feed(pcm))
    assert silero == []
    assert sum(end - start for start, end in webrtc) >= 900


def test_silero_hysteresis_holds_speech_until_the_probability_drops_well_below(signals: Signals) -> None:
    windows = voice_activity(settings("silero"), RATE).feed(
        signals.silence(300) + signals.speech + signals.silence(800)
    )
    pairs = list(itertools.pairwise(windows))
    released = [b.probability for a, b in pairs if a.speech and not b.speech]
    engaged = [b.probability for a, b in pairs if not a.speech and b.speech]
    held = [b.probability for a, b in pairs if a.speech and b.speech]
    assert released and engaged
    assert max(released) < 0.35
    assert min(engaged) >= 0.5
    assert min(held) >= 0.35


@pytest.mark.parametrize("engine", ENGINES)
def test_reset_starts_a_new_stream(engine: str, signals: Signals) -> None:
    vad = voice_activity(settings(engine), RATE)
    pcm = signals.silence(200) + signals.speech[: 2 * 4000]
    first = vad.feed(pcm + b"\x01")  # a stray byte must not survive the reset
    vad.reset()
    second = vad.feed(pcm)
    assert [(w.start_ms, w.speech) for w in first] == [(w.start_ms, w.speech) for w in second]


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="engine"):
        VadSettings(engine="energy", threshold=0.5, webrtc_mode=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threshold"):
        VadSettings(engine="silero", threshold=1.5, webrtc_mode=3)
    with pytest.raises(ValueError, match="webrtc_mode"):
        VadSettings(engine="webrtc", threshold=0.5, webrtc_mode=4)
    with pytest.raises(ValueError, match="8000 or 16000"):
        SileroVoiceActivity(22050, 0.5)
    with pytest.raises(ValueError, match="8, 16, 32 or 48"):
        WebRtcVoiceActivity(22050, 3)


@pytest.mark.parametrize("engine", ENGINES)
def test_cost_per_window_leaves_the_event_loop_free(engine: str, signals: Signals) -> None:
    """The docstring's claim: inline on the event loop, a window costs a few percent of a millisecond."""
    vad = voice_activity(settings(engine), RATE)
    pcm = (signals.speech + signals.silence(500)) * 3
    vad.feed(pcm[:3200])  # warm up
    started = time.perf_counter()
    windows = vad.feed(pcm)
    per_window_us = (time.perf_counter() - started) / len(windows) * 1e6
    print(f"\n{engine}: {per_window_us:.1f} us per {vad.window_ms:.0f} ms window ({len(windows)} windows)")
    assert per_window_us < 1000
    assert np.mean([w.speech for w in windows]) > 0.3


def test_silero_hysteresis_rule_on_a_scripted_model() -> None:
    """A voice hovering around the threshold stays one run instead of flickering into false pauses."""

    class ScriptedModel:
        window_size_samples = 256

        def __init__(self, probabilities: list[float]) -> None:
            self._next = iter(probabilities)

        def process(self, data: memoryview) -> float:
            assert data.format == "f" and len(data) == 256
            return next(self._next)

    vad = SileroVoiceActivity(8000, threshold=0.5)
    vad._model = ScriptedModel([0.1, 0.45, 0.6, 0.45, 0.4, 0.36, 0.34, 0.45, 0.5])  # type: ignore[assignment]
    verdicts = [w.speech for w in vad.feed(bytes(2 * 256 * 9))]
    assert verdicts == [False, False, True, True, True, True, False, False, True]


def test_energy_gate_spares_the_model_on_quiet_windows(signals: Signals) -> None:
    """Digital silence and line hiss under the gate never reach silero; speech does, every window of it."""
    vad = SileroVoiceActivity(RATE, 0.5, energy_gate_dbfs=-55.0)
    quiet = vad.feed(signals.silence(1000) + signals.noise(1000, -70))
    assert vad.model_windows == 0
    assert not any(w.speech for w in quiet)
    assert all(w.probability == 0.0 for w in quiet)
    spoken = vad.feed(signals.speech)
    assert vad.model_windows >= sum(w.speech for w in spoken) > 0


def test_energy_gate_finds_the_same_speech_as_the_model_alone(signals: Signals) -> None:
    """Gate on or off, the same utterances as the turn detector sees them (voiced runs joined across
    gaps shorter than an end of turn): starts and ends within one 32 ms window. Once speaking, every
    window goes to the model, so silero's hangover still decides where speech ends."""
    pcm = (signals.silence(700) + signals.speech + signals.silence(900)) * 2
    gated_vad = SileroVoiceActivity(RATE, 0.5, energy_gate_dbfs=-55.0)
    gated = utterances(speech_spans(gated_vad.feed(pcm)))
    plain = utterances(speech_spans(SileroVoiceActivity(RATE, 0.5).feed(pcm)))
    assert len(gated) == len(plain) == 2
    for (gated_start, gated_end), (start, end) in zip(gated, plain, strict=True):
        assert gated_start == pytest.approx(start, abs=32)
        assert gated_end == pytest.approx(end, abs=32)
    assert gated_vad.model_windows < 0.75 * len(pcm) // (2 * 256)  # the silences were skipped


def utterances(spans: list[tuple[float, float]], join_ms: float = 350.0) -> list[tuple[float, float]]:
    joined: list[tuple[float, float]] = []
    for start, end in spans:
        if joined and start - joined[-1][1] < join_ms:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined


def test_energy_gate_setting_is_validated() -> None:
    with pytest.raises(ValueError, match="energy_gate_dbfs"):
        VadSettings(engine="silero", threshold=0.5, webrtc_mode=3, energy_gate_dbfs=-10.0)
