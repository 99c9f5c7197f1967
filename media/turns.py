"""Turn-taking from VAD windows: when the caller started, paused, resumed and finished speaking.

A pure state machine: no asyncio, no clock of its own. Time comes from the windows (stream time, see
`media.vad`), so tests script any timeline and the verdicts do not depend on how the network delivered
the audio.

The rules, and the failures they prevent:
- A turn starts only after `min_speech_ms` of uninterrupted voice. A cough, a click or a short "mhm"
  under it is never a turn; the start reported is where that voiced run began, and the audio kept
  begins `prefix_padding_ms` earlier so STT hears the first consonant the VAD was late on.
- While the persona is speaking the bar is `barge_in_min_speech_ms` (longer): backchannels ("mhm",
  "right") and echo blips do not cut the persona off; confirmed speech does, and is itself the start
  of the caller's next turn (`SpeechStarted.barge_in`).
- After `speculative_silence_ms` of silence a `SpeculativePause` carries the audio so far, so a reply
  can be transcribed and generated early; `SpeechResumed` says to drop it. The turn ends after
  `end_silence_ms` (per persona: `dataclasses.replace(settings, end_silence_ms=...)`), so a short
  pause for breath inside a sentence does not split it.

All durations are VAD time. Both engines keep calling speech for ~70-130 ms after a sound stops
(silero's recurrent state, webrtcvad's hangover), measured on espeak-ng speech at 8 kHz: a 150 ms burst
makes a voiced run of up to ~290 ms, and a silence reads ~100 ms shorter than it was. So the proposed
defaults are min_speech_ms 300 (rejects 150 ms bursts, keeps a 264 ms "yeah"), barge_in_min_speech_ms
400, speculative_silence_ms 100 and end_silence_ms 350 (turns ended 360-470 ms after the last sound).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum, auto
from itertools import islice

from media.vad import VadWindow


@dataclass(frozen=True, slots=True)
class TurnSettings:
    """`[turns]` in config.toml; all durations in milliseconds of caller audio."""

    min_speech_ms: float
    barge_in_min_speech_ms: float
    speculative_silence_ms: float
    """Equal to `end_silence_ms` turns speculation off (the end of turn wins)."""
    end_silence_ms: float
    prefix_padding_ms: float
    speculative_reply: bool = True
    """At the speculative pause also start the reply's language model on the speculative transcript
    (buffered unspoken, dropped if the caller goes on; see `media.early_reply`)."""

    def __post_init__(self) -> None:
        for name in ("min_speech_ms", "speculative_silence_ms", "prefix_padding_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"turns.{name} must not be negative")
        if self.end_silence_ms <= 0:
            raise ValueError("turns.end_silence_ms must be positive")
        if self.barge_in_min_speech_ms < self.min_speech_ms:
            raise ValueError("turns.barge_in_min_speech_ms must be at least turns.min_speech_ms")
        if self.speculative_silence_ms > self.end_silence_ms:
            raise ValueError("turns.speculative_silence_ms must not exceed turns.end_silence_ms")


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The caller is taking a turn. `barge_in`: the persona was speaking, so stop it now."""

    start_ms: float
    at_ms: float
    barge_in: bool


@dataclass(frozen=True, slots=True)
class SpeculativePause:
    """A pause that may be the end of the turn: the audio so far, to transcribe ahead of time."""

    pcm: bytes
    pcm_start_ms: float
    start_ms: float
    end_ms: float
    at_ms: float


@dataclass(frozen=True, slots=True)
class SpeechResumed:
    """Speech after a `SpeculativePause`: whatever was prepared from it is stale."""

    at_ms: float


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The caller finished. `pcm` runs from `pcm_start_ms` (prefix padding included) to `end_ms`, the
    end of the last voiced window; the trailing silence is left out."""

    pcm: bytes
    pcm_start_ms: float
    start_ms: float
    end_ms: float
    at_ms: float


TurnEvent = SpeechStarted | SpeculativePause | SpeechResumed | TurnEnded


class _State(Enum):
    IDLE = auto()  # silence; the last prefix_padding_ms of audio kept
    ONSET = auto()  # a voiced run too short yet to be a turn
    SPEAKING = auto()
    PAUSED = auto()  # in a turn, silence past speculative_silence_ms


class TurnDetector:
    """Feed every VAD window of the caller's stream, in order; act on the events returned."""

    def __init__(self, settings: TurnSettings) -> None:
        self.settings = settings
        self._state = _State.IDLE
        self._frames: deque[VadWindow] = deque()
        self._persona_speaking = False
        self._run_start_ms = 0.0
        self._onset_ms = 0.0
        self._last_voiced_end_ms = 0.0
        self._voiced_frames = 0  # frames up to and including the last voiced one, once in a turn

    @property
    def in_turn(self) -> bool:
        """The caller holds the floor (started, not yet ended): not the moment to start speaking."""
        return self._state in (_State.SPEAKING, _State.PAUSED)

    def set_persona_speaking(self, speaking: bool) -> None:
        """Tell the detector whether persona audio is playing (from the playback clock, not from bytes
        sent), which raises the bar for the caller's speech to `barge_in_min_speech_ms`. A caller
        already mid-turn when the persona starts is not re-judged: the call decides what to do."""
        self._persona_speaking = speaking

    def push(self, window: VadWindow) -> list[TurnEvent]:
        self._frames.append(window)
        if self._state in (_State.IDLE, _State.ONSET):
            return self._listen(window)
        return self._follow(window)

    def reset(self) -> None:
        """Forget everything heard (new stream); the persona-speaking flag is kept."""
        self._state = _State.IDLE
        self._frames.clear()
        self._voiced_frames = 0

    def _listen(self, window: VadWindow) -> list[TurnEvent]:
        if not window.speech:
            self._state = _State.IDLE
            self._keep_prefix(window.end_ms)
            return []
        if self._state is _State.IDLE:
            self._state = _State.ONSET
            self._run_start_ms = window.start_ms
        s = self.settings
        needed_ms = s.barge_in_min_speech_ms if self._persona_speaking else s.min_speech_ms
        if window.end_ms - self._run_start_ms < needed_ms:
            return []
        self._state = _State.SPEAKING
        self._onset_ms = self._run_start_ms
        self._mark_voiced(window)
        return [SpeechStarted(self._onset_ms, window.end_ms, barge_in=self._persona_speaking)]

    def _follow(self, window: VadWindow) -> list[TurnEvent]:
        if window.speech:
            self._mark_voiced(window)
            if self._state is _State.PAUSED:
                self._state = _State.SPEAKING
                return [SpeechResumed(window.end_ms)]
            return []
        silence_ms = window.end_ms - self._last_voiced_end_ms
        if silence_ms >= self.settings.end_silence_ms:
            return [self._end_turn(window.end_ms)]
        if self._state is _State.SPEAKING and silence_ms >= self.settings.speculative_silence_ms:
            self._state = _State.PAUSED
            pcm, pcm_start_ms = self._utterance()
            return [SpeculativePause(pcm, pcm_start_ms, self._onset_ms, self._last_voiced_end_ms, window.end_ms)]
        return []

    def _mark_voiced(self, window: VadWindow) -> None:
        self._last_voiced_end_ms = window.end_ms
        self._voiced_frames = len(self._frames)

    def _end_turn(self, at_ms: float) -> TurnEnded:
        pcm, pcm_start_ms = self._utterance()
        event = TurnEnded(pcm, pcm_start_ms, self._onset_ms, self._last_voiced_end_ms, at_ms)
        for _ in range(self._voiced_frames):
            self._frames.popleft()
        self._voiced_frames = 0
        self._state = _State.IDLE
        self._keep_prefix(at_ms)
        return event

    def _keep_prefix(self, now_ms: float) -> None:
        """Out of a turn, hold only the audio a future onset's padding can reach."""
        horizon_ms = now_ms - self.settings.prefix_padding_ms
        while self._frames and self._frames[0].end_ms <= horizon_ms:
            self._frames.popleft()

    def _utterance(self) -> tuple[bytes, float]:
        """Audio from `prefix_padding_ms` before the onset to the last voiced window, cut to the sample
        inside the first window so the padding is exact whatever the window size."""
        frames = list(islice(self._frames, self._voiced_frames))
        first = frames[0]
        target_ms = max(first.start_ms, self._onset_ms - self.settings.prefix_padding_ms)
        samples = len(first.pcm) // 2
        span_ms = first.end_ms - first.start_ms
        skip = round((target_ms - first.start_ms) / span_ms * samples) if span_ms > 0 else 0
        head = first.pcm[skip * 2 :]
        pcm_start_ms = first.start_ms + (skip / samples * span_ms if samples else 0.0)
        return head + b"".join(f.pcm for f in frames[1:]), pcm_start_ms
