"""What the person on the phone does: a list of steps, turned into 20 ms mu-law frames.

The script starts when a media stream starts (that is when the server begins to listen) and is
shared by every stream of the call, so a second `<Connect><Stream>` hears the rest of it. Between
and after steps the line carries silence frames, like a real phone line that is never quiet on the
wire; a script without `HangUp` leaves the caller silent on the line until the server hangs up.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .audio import FRAME_BYTES, FRAME_MS, SILENCE_BYTE, frames_of, mulaw_encode, read_wav_8k, resample_pcm
from .errors import ScriptError

SILENT_FRAME = bytes([SILENCE_BYTE]) * FRAME_BYTES
DTMF_DIGITS = frozenset("0123456789*#ABCD")


@dataclass(frozen=True)
class Wait:
    """Stay silent on the line."""

    seconds: float


@dataclass(frozen=True)
class PlayWav:
    """Speak a recorded WAV file (any PCM rate/channels; resampled to 8 kHz mono)."""

    path: Path


@dataclass(frozen=True)
class PlayPcm:
    """Speak raw PCM16 little-endian mono samples recorded at `sample_rate` Hz."""

    samples: bytes
    sample_rate: int


@dataclass(frozen=True)
class Dtmf:
    """Press a key: Twilio reports it as a `dtmf` event on the stream."""

    digit: str


@dataclass(frozen=True)
class HangUp:
    """Put the phone down: the stream gets `stop` and the call completes."""


Step = Wait | PlayWav | PlayPcm | Dtmf | HangUp


def parse_script(raw: Any) -> tuple[Step, ...]:
    """Script from control-API JSON: `[{"wait": 1}, {"play": "/a.wav"}, {"pcm": "<b64>", "rate": 16000},
    {"dtmf": "5"}, {"hangup": true}]`. Raises ScriptError so the API can answer 400."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ScriptError("script must be a list of steps")
    steps: list[Step] = []
    for item in raw:
        if not isinstance(item, dict) or len(set(item) - {"rate"}) != 1:
            raise ScriptError(f"script step {item!r} must be an object with one action")
        try:
            steps.append(_parse_step(item))
        except (TypeError, ValueError, binascii.Error) as exc:
            raise ScriptError(f"script step {item!r}: {exc}") from exc
    return validate_script(steps)


def _parse_step(item: dict[str, Any]) -> Step:
    if "wait" in item:
        return Wait(float(item["wait"]))
    if "play" in item:
        return PlayWav(Path(str(item["play"])))
    if "pcm" in item:
        return PlayPcm(base64.b64decode(item["pcm"], validate=True), int(item["rate"]))
    if "dtmf" in item:
        return Dtmf(str(item["dtmf"]))
    if "hangup" in item:
        return HangUp()
    raise ValueError("unknown action")


def validate_script(steps: Iterable[Step]) -> tuple[Step, ...]:
    """Refuse steps that would only fail mid-call (missing file, bad digit) while the caller can fix them."""
    checked = tuple(steps)
    for step in checked:
        match step:
            case Wait(seconds) if seconds < 0:
                raise ScriptError("wait must be >= 0 seconds")
            case PlayWav(path) if not path.is_file():
                raise ScriptError(f"no WAV file at {path}")
            case PlayPcm(samples, rate) if rate <= 0 or len(samples) % 2:
                raise ScriptError("pcm needs whole 16-bit samples and a positive rate")
            case Dtmf(digit) if digit not in DTMF_DIGITS:
                raise ScriptError(f"{digit!r} is not a DTMF digit")
    return checked


class CallerVoice:
    """The caller's side of the line as an endless stream of frames, key presses and one hang-up.

    Yields `bytes` (one 160-byte mu-law frame = 20 ms), `Dtmf` (no air time) or `HangUp` (last item).
    Audio files are decoded in a thread when their step is reached, not on the event loop.
    """

    def __init__(self, steps: Sequence[Step]) -> None:
        self._steps = deque(steps)
        self._pending: deque[bytes] = deque()
        self._hung_up = False

    async def items(self) -> AsyncIterator[bytes | Dtmf | HangUp]:
        while not self._hung_up:
            if self._pending:
                yield self._pending.popleft()
                continue
            if not self._steps:
                yield SILENT_FRAME
                continue
            step = self._steps.popleft()
            match step:
                case Wait(seconds):
                    self._pending.extend([SILENT_FRAME] * round(seconds * 1000 / FRAME_MS))
                case PlayWav(path):
                    pcm = await asyncio.to_thread(read_wav_8k, path)
                    self._pending.extend(frames_of(mulaw_encode(pcm)))
                case PlayPcm(samples, rate):
                    pcm = await asyncio.to_thread(resample_pcm, samples, rate)
                    self._pending.extend(frames_of(mulaw_encode(pcm)))
                case Dtmf():
                    yield step
                case HangUp():
                    self._hung_up = True
                    yield step
