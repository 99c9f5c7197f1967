"""Voice-to-voice at the caller's ear, read off the carrier's two recordings of one call.

The phone keeps two 8 kHz PCM16 tracks on ONE clock (orchestrator/carrier/phone.py): the mouth appends
frame k of the caller's script when its deadline t0 + k * 20 ms comes, the ear appends what it played
in tick k at t0 + k * 20 ms, both from the same `t0` (the stream start), and `<Say>`/`<Pause>` before a
stream append the same length to both. Sample i of either track is therefore the same instant of stream
time, and a latency is a difference of sample indices, not of wall-clock stamps: the end of the caller's
utterance in `caller_pcm` to the first audible persona sample after it in `heard_pcm`. If the phone's
own loop runs late it catches up on the same absolute schedule, so the indices stay on stream time;
`StreamReport.max_tick_late_ms` says how late it ever ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE_HZ = 8000
AUDIBLE = 328  # -40 dBFS, as the speech fixtures are trimmed
GAP_S = 0.3  # silence inside one utterance shorter than this does not split it
MIN_UTTERANCE_S = 0.1


@dataclass(frozen=True)
class EarTurn:
    caller_end_s: float  # stream time the caller's utterance ended
    voice_to_voice_ms: float | None  # None: no persona audio before the caller spoke again
    overlapped: bool  # the persona was still audible when the caller stopped: not a clean turn


def _samples(pcm: bytes) -> np.ndarray:
    return np.abs(np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int32))


def utterances(pcm: bytes) -> list[tuple[int, int]]:
    """(first, last) audible sample of each utterance in a track."""
    loud = np.flatnonzero(_samples(pcm) > AUDIBLE)
    if not len(loud):
        return []
    breaks = np.flatnonzero(np.diff(loud) > GAP_S * RATE_HZ)
    starts = [loud[0], *loud[breaks + 1]]
    ends = [*loud[breaks], loud[-1]]
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True) if e - s >= MIN_UTTERANCE_S * RATE_HZ]


def greeting_ms(caller_pcm: bytes, heard_pcm: bytes) -> float | None:
    """From the stream's start to the first audible persona sample, if it came before the caller spoke."""
    spoken = utterances(caller_pcm)
    heard = np.flatnonzero(_samples(heard_pcm) > AUDIBLE)
    if not len(heard) or (spoken and heard[0] > spoken[0][0]):
        return None
    return int(heard[0]) * 1000 / RATE_HZ


def ear_turns(caller_pcm: bytes, heard_pcm: bytes) -> list[EarTurn]:
    """One entry per caller utterance: how long until the persona was heard again."""
    heard = _samples(heard_pcm)
    spoken = utterances(caller_pcm)
    turns = []
    for index, (_, end) in enumerate(spoken):
        next_start = spoken[index + 1][0] if index + 1 < len(spoken) else len(heard)
        before = heard[max(0, end - int(GAP_S * RATE_HZ)) : end + 1]
        overlapped = bool(len(before) and before.max() > AUDIBLE)
        after = np.flatnonzero(heard[end + 1 : next_start] > AUDIBLE)
        latency = None if not len(after) else (int(after[0]) + 1) * 1000 / RATE_HZ
        turns.append(EarTurn(end / RATE_HZ, latency, overlapped))
    return turns
