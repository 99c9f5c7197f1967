"""Leading silence is cut from each sentence's audio, the sound itself never."""

from __future__ import annotations

import numpy as np

from media.silence import LeadingSilenceTrimmer

RATE = 16000


def pcm(samples: list[int] | np.ndarray) -> bytes:
    return np.asarray(samples, dtype="<i2").tobytes()


def test_silence_before_the_first_sound_goes_and_ten_ms_of_it_stay() -> None:
    trimmer = LeadingSilenceTrimmer(RATE)
    hiss = [3, -5, 12, 0] * 200  # 50 ms of near-silence, spread over two chunks
    tone = [8000, 6000, -8000, -6000] * 200
    assert trimmer.push(pcm(hiss[:480])) == b""
    out = trimmer.push(pcm(hiss[480:] + tone))
    assert out == pcm(hiss[-160:] + tone)  # 10 ms at 16 kHz before the first audible sample
    assert trimmer.push(pcm([0] * 400)) == pcm([0] * 400)  # pauses after the first sound are speech


def test_sound_at_the_very_start_is_untouched() -> None:
    trimmer = LeadingSilenceTrimmer(RATE)
    audio = pcm([9000, -9000] * 100)
    assert trimmer.push(audio) == audio


def test_an_odd_byte_never_breaks_it() -> None:
    assert LeadingSilenceTrimmer(RATE).push(b"\x01") == b""
    assert LeadingSilenceTrimmer(RATE).push(pcm([0, 20000]) + b"\x01") == pcm([0, 20000]) + b"\x01"
