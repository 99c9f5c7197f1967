"""The turn detector: scripted VAD timelines for the rules, then real audio through both VAD engines."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from media.turns import (
    SpeculativePause,
    SpeechResumed,
    SpeechStarted,
    TurnDetector,
    TurnEnded,
    TurnEvent,
    TurnSettings,
)
from media.vad import VadSettings, VadWindow, voice_activity
from tests.media.conftest import RATE, Signals

# The defaults proposed for config.toml (VAD time: see the module docstring of media.turns).
SETTINGS = TurnSettings(
    min_speech_ms=300,
    barge_in_min_speech_ms=400,
    speculative_silence_ms=150,
    end_silence_ms=350,
    prefix_padding_ms=300,
)


def script(pattern: str, window_ms: float = 20.0, start_ms: float = 0.0) -> list[VadWindow]:
    """One window per character, '#' voiced and '.' silent. Window n holds samples of value n, so a
    test can tell exactly which audio an event carries."""
    samples = round(RATE * window_ms / 1000)
    return [
        VadWindow(
            pcm=np.full(samples, n, dtype="<i2").tobytes(),
            start_ms=start_ms + n * window_ms,
            end_ms=start_ms + (n + 1) * window_ms,
            probability=1.0 if c == "#" else 0.0,
            speech=c == "#",
        )
        for n, c in enumerate(pattern)
    ]


def feed(detector: TurnDetector, windows: list[VadWindow]) -> list[TurnEvent]:
    events: list[TurnEvent] = []
    for window in windows:
        events += detector.push(window)
    return events


def window_ids(pcm: bytes) -> list[int]:
    return sorted(set(np.frombuffer(pcm, "<i2").tolist()))


# --- rules, on scripted timelines ----------------------------------------------------------------------


def test_voiced_run_shorter_than_min_speech_is_not_a_turn() -> None:
    detector = TurnDetector(SETTINGS)
    assert feed(detector, script("." * 10 + "#" * 14 + "." * 40)) == []  # 280 ms
    assert not detector.in_turn


def test_a_gap_restarts_the_onset_count() -> None:
    """Two 200 ms blips 20 ms apart are two blips (a cough, a door), not 400 ms of speech."""
    assert feed(TurnDetector(SETTINGS), script("." * 10 + "#" * 10 + "." + "#" * 10 + "." * 40)) == []


def test_one_turn_with_its_boundaries_and_audio() -> None:
    detector = TurnDetector(SETTINGS)
    events = feed(detector, script("." * 25 + "#" * 50 + "." * 30))  # speech 500-1500 ms
    assert events == [
        SpeechStarted(start_ms=500, at_ms=800, barge_in=False),
        SpeculativePause(events[1].pcm, 200, 500, 1500, 1660),  # type: ignore[union-attr]
        TurnEnded(events[2].pcm, 200, 500, 1500, 1860),  # type: ignore[union-attr]
    ]
    ended = events[2]
    assert isinstance(ended, TurnEnded)
    assert window_ids(ended.pcm) == list(range(10, 75))  # 300 ms of padding, then the speech
    assert len(ended.pcm) == 2 * 8 * 1300
    assert not detector.in_turn


def test_pause_shorter_than_end_silence_does_not_split_the_turn() -> None:
    events = feed(TurnDetector(SETTINGS), script("." * 20 + "#" * 30 + "." * 10 + "#" * 30 + "." * 30))
    assert [type(e) for e in events] == [
        SpeechStarted,
        SpeculativePause,
        SpeechResumed,
        SpeculativePause,
        TurnEnded,
    ]
    pause, resumed, ended = events[1], events[2], events[4]
    assert isinstance(pause, SpeculativePause) and isinstance(ended, TurnEnded)
    assert (pause.end_ms, pause.at_ms) == (1000, 1160)
    assert window_ids(pause.pcm) == list(range(5, 50))  # the audio so far, for a speculative reply
    assert resumed == SpeechResumed(at_ms=1220)
    assert (ended.start_ms, ended.end_ms) == (400, 1800)
    assert window_ids(ended.pcm) == list(range(5, 90))


def test_pause_under_speculative_silence_raises_no_event() -> None:
    events = feed(TurnDetector(SETTINGS), script("." * 20 + "#" * 30 + "." * 7 + "#" * 30 + "." * 30))
    assert [type(e) for e in events] == [SpeechStarted, SpeculativePause, TurnEnded]


def test_speculation_can_be_turned_off() -> None:
    detector = TurnDetector(replace(SETTINGS, speculative_silence_ms=SETTINGS.end_silence_ms))
    events = feed(detector, script("." * 20 + "#" * 30 + "." * 30))
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]


def test_backchannel_while_persona_speaks_is_not_a_barge_in() -> None:
    detector = TurnDetector(SETTINGS)
    detector.set_persona_speaking(True)
    assert feed(detector, script("." * 10 + "#" * 18 + "." * 30)) == []  # 360 ms: a turn if she were silent
    detector.set_persona_speaking(False)
    events = feed(detector, script("." * 10 + "#" * 18 + "." * 30, start_ms=2000))
    assert events[0] == SpeechStarted(start_ms=2200, at_ms=2500, barge_in=False)


def test_confirmed_speech_while_persona_speaks_is_a_barge_in_and_a_turn() -> None:
    detector = TurnDetector(SETTINGS)
    detector.set_persona_speaking(True)
    events = feed(detector, script("." * 10 + "#" * 40 + "." * 30))
    assert events[0] == SpeechStarted(start_ms=200, at_ms=600, barge_in=True)
    assert isinstance(events[-1], TurnEnded)
    assert window_ids(events[-1].pcm) == list(range(0, 50))  # prefix clamped at the stream start


def test_prefix_is_cut_to_the_sample_inside_a_window() -> None:
    """32 ms silero windows do not divide 300 ms: the padding still starts exactly 300 ms early."""
    events = feed(TurnDetector(SETTINGS), script("." * 30 + "#" * 40 + "." * 15, window_ms=32))
    ended = events[-1]
    assert isinstance(ended, TurnEnded)
    assert ended.start_ms == 960
    assert ended.pcm_start_ms == pytest.approx(660, abs=1 / 8)
    assert len(ended.pcm) == 2 * round(8 * (ended.end_ms - ended.pcm_start_ms))
    first_window = int(np.frombuffer(ended.pcm[:2], "<i2")[0])
    assert first_window == 20  # 660 ms falls inside window 20 (640-672 ms)


def test_silence_is_measured_in_stream_time_across_lost_packets() -> None:
    """A gap in timestamps (frames lost upstream) counts as the silence it spans."""
    windows = script("." * 10 + "#" * 25)
    late = script(".", start_ms=windows[-1].end_ms + 400)
    events = feed(TurnDetector(SETTINGS), windows + late)
    assert [type(e) for e in events] == [SpeechStarted, TurnEnded]
    assert events[-1].at_ms == 1120


def test_second_turn_gets_its_own_padding_from_the_silence_between() -> None:
    detector = TurnDetector(SETTINGS)
    first = feed(detector, script("." * 5 + "#" * 20 + "." * 25))
    second = feed(detector, script("." * 30 + "#" * 20 + "." * 20, start_ms=1000))
    assert isinstance(first[-1], TurnEnded) and isinstance(second[-1], TurnEnded)
    assert first[-1].pcm_start_ms == 0
    assert second[-1].start_ms == 1600
    assert second[-1].pcm_start_ms == 1300
    assert len(second[-1].pcm) == 2 * 8 * (2000 - 1300)


def test_reset_forgets_a_turn_in_progress() -> None:
    detector = TurnDetector(SETTINGS)
    feed(detector, script("." * 5 + "#" * 20))
    assert detector.in_turn
    detector.reset()
    assert not detector.in_turn
    assert feed(detector, script("." * 30, start_ms=1000)) == []


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="barge_in_min_speech_ms"):
        replace(SETTINGS, barge_in_min_speech_ms=200)
    with pytest.raises(ValueError, match="speculative_silence_ms"):
        replace(SETTINGS, speculative_silence_ms=500)
    with pytest.raises(ValueError, match="end_silence_ms"):
        replace(SETTINGS, end_silence_ms=0)
    with pytest.raises(ValueError, match="prefix_padding_ms"):
        replace(SETTINGS, prefix_padding_ms=-1)


# --- real audio through the VAD engines ----------------------------------------------------------------

ENGINES = ["silero", "webrtc"]


def listen(engine: str, pcm: bytes, persona_speaking: bool = False) -> list[TurnEvent]:
    vad = voice_activity(VadSettings(engine=engine, threshold=0.5, webrtc_mode=3), RATE)  # type: ignore[arg-type]
    detector = TurnDetector(SETTINGS)
    detector.set_persona_speaking(persona_speaking)
    events: list[TurnEvent] = []
    for i in range(0, len(pcm), 320):  # 20 ms frames, as Twilio sends them
        for window in vad.feed(pcm[i : i + 320]):
            events += detector.push(window)
    return events


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("offset_ms", [0, 150, 300, 450, 600, 750, 900, 1050, 1200])
def test_150_ms_burst_of_speech_is_not_a_turn(engine: str, offset_ms: float, signals: Signals) -> None:
    burst = signals.faded(signals.speech, offset_ms, 150)
    assert listen(engine, signals.silence(300) + burst + signals.silence(600)) == []


def test_150_ms_voiced_buzz_is_not_a_turn_but_a_second_of_it_is(signals: Signals) -> None:
    """Synthetic voicing (which webrtcvad accepts): the length rule alone decides."""
    assert listen("webrtc", signals.silence(300) + signals.voiced(150) + signals.silence(600)) == []
    events = listen("webrtc", signals.silence(300) + signals.voiced(1000) + signals.silence(600))
    assert [type(e) for e in events] == [SpeechStarted, SpeculativePause, TurnEnded]


@pytest.mark.parametrize("engine", ENGINES)
def test_one_second_utterance_then_half_a_second_of_silence_is_one_turn(engine: str, signals: Signals) -> None:
    utterance = signals.faded(signals.speech, 0, 1000)
    events = listen(engine, signals.silence(300) + utterance + signals.silence(500))
    turns = [e for e in events if isinstance(e, TurnEnded)]
    assert len(turns) == 1
    assert isinstance(events[0], SpeechStarted)
    turn = turns[0]
    assert turn.start_ms == pytest.approx(300, abs=40)
    assert 1300 - 20 <= turn.end_ms <= 1300 + 150
    assert turn.at_ms <= 1800
    assert turn.pcm_start_ms == pytest.approx(max(0.0, turn.start_ms - 300), abs=0.2)
    audio = np.frombuffer(turn.pcm, "<i2")
    assert audio.size == round(8 * (turn.end_ms - turn.pcm_start_ms))
    spoken = np.frombuffer(utterance, "<i2")
    heard = audio[round(8 * (300 - turn.pcm_start_ms)) :][: spoken.size]
    assert np.array_equal(heard, spoken)  # the whole utterance is in the turn's audio, unaltered


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("cut_ms", [500, 700, 900])
def test_200_ms_pause_inside_speech_does_not_split_the_turn(engine: str, cut_ms: float, signals: Signals) -> None:
    speech = signals.speech
    pcm = (
        signals.silence(300)
        + signals.faded(speech, 0, cut_ms)
        + signals.silence(200)
        + signals.faded(speech, cut_ms, 2000)
        + signals.silence(600)
    )
    events = listen(engine, pcm)
    turns = [e for e in events if isinstance(e, TurnEnded)]
    assert len(turns) == 1
    assert [type(e) for e in events].count(SpeechStarted) == 1
    assert turns[0].end_ms >= 300 + signals.ms(speech) + 200 - 20


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("dbfs", [-60, -45, -35])
def test_low_level_noise_does_not_trigger(engine: str, dbfs: float, signals: Signals) -> None:
    assert listen(engine, signals.noise(3000, dbfs, seed=int(-dbfs))) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_speech_over_noise_is_still_one_turn(engine: str, signals: Signals) -> None:
    clean = signals.silence(300) + signals.speech + signals.silence(600)
    events = listen(engine, signals.mix(clean, signals.noise(signals.ms(clean), -45, seed=3)))
    assert [type(e) for e in events].count(TurnEnded) == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_backchannel_does_not_interrupt_the_persona(engine: str, signals: Signals) -> None:
    assert listen(engine, signals.silence(300) + signals.yeah + signals.silence(600), persona_speaking=True) == []


def test_backchannel_to_a_silent_persona_is_a_turn(signals: Signals) -> None:
    """The default engine hears "yeah" (264 ms) as a short answer when nobody else is talking."""
    events = listen("silero", signals.silence(300) + signals.yeah + signals.silence(600))
    assert isinstance(events[0], SpeechStarted)
    assert isinstance(events[-1], TurnEnded)


@pytest.mark.parametrize("engine", ENGINES)
def test_real_interruption_barges_in(engine: str, signals: Signals) -> None:
    events = listen(engine, signals.silence(300) + signals.speech + signals.silence(600), persona_speaking=True)
    started = events[0]
    assert isinstance(started, SpeechStarted) and started.barge_in
    assert started.at_ms - 300 <= 400 + 100  # within the barge-in bar plus a window or so of VAD onset
