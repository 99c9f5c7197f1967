"""Cut the silence a speech engine puts before each sentence.

Piper starts every sentence with 30-50 ms of near-silence (OpenAI's voices do too). Before the first
sentence of a reply that is dead air the caller waits through after they stop talking; between sentences it
only lengthens the pause the engine already ends each sentence with (130-250 ms). A few milliseconds are
kept before the first audible sample so the onset of the first sound is not clipped.
"""

from __future__ import annotations

import numpy as np

_AUDIBLE = 330  # |sample| of PCM16 from which a sample is heard: about -40 dBFS
_KEEP_MS = 10


class LeadingSilenceTrimmer:
    """Drops PCM16 chunks (or their start) until the first audible sample, then passes everything on.
    One per sentence."""

    def __init__(self, sample_rate: int) -> None:
        self._keep = sample_rate * _KEEP_MS // 1000
        self._leading = True

    def push(self, pcm16: bytes) -> bytes:
        if not self._leading:
            return pcm16
        samples = np.frombuffer(pcm16[: len(pcm16) - len(pcm16) % 2], dtype="<i2")
        loud = np.flatnonzero(np.abs(samples.astype(np.int32)) >= _AUDIBLE)
        if not len(loud):
            return b""
        self._leading = False
        return pcm16[max(0, int(loud[0]) - self._keep) * 2 :]
