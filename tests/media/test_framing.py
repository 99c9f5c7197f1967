"""Re-chunking byte streams into exact 20 ms frames."""

from __future__ import annotations

import random

import pytest

from media.codec import PCM16_SILENCE, ULAW_SILENCE
from media.framing import Framer, frame_bytes


def test_frame_sizes_of_the_streams_we_carry() -> None:
    assert frame_bytes(8000, 20, 1) == 160  # Twilio mu-law
    assert frame_bytes(8000, 20, 2) == 320
    assert frame_bytes(16000, 20, 2) == 640
    assert frame_bytes(22050, 20, 2) == 882
    assert frame_bytes(48000, 20, 2) == 1920


def test_rate_without_whole_samples_per_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number"):
        frame_bytes(22050, 10, 2)  # 220.5 samples


def test_arbitrary_chunks_become_exact_frames_in_order() -> None:
    rng = random.Random(7)
    data = bytes(rng.randrange(256) for _ in range(160 * 37 + 55))
    framer = Framer(160, ULAW_SILENCE)
    frames: list[bytes] = []
    offset = 0
    while offset < len(data):
        size = rng.choice([1, 7, 159, 160, 161, 480, 1000])
        frames += framer.push(data[offset : offset + size])
        offset += size
    assert all(len(f) == 160 for f in frames)
    assert len(frames) == 37
    assert framer.pending == 55
    assert b"".join(frames) == data[: 160 * 37]
    last = framer.flush()
    assert last == data[160 * 37 :] + ULAW_SILENCE * 105
    assert framer.pending == 0
    assert framer.flush() is None


def test_pcm_padding_is_zero_samples() -> None:
    framer = Framer(320, PCM16_SILENCE)
    assert framer.push(b"\x01\x02" * 10) == []
    assert framer.flush() == b"\x01\x02" * 10 + bytes(300)


def test_clear_drops_the_remainder() -> None:
    framer = Framer(160, ULAW_SILENCE)
    framer.push(b"\x10" * 100)
    framer.clear()
    assert framer.pending == 0
    assert framer.push(b"\x20" * 160) == [b"\x20" * 160]


def test_one_push_can_complete_many_frames() -> None:
    framer = Framer(160, ULAW_SILENCE)
    assert framer.push(b"\x00" * 100) == []
    frames = framer.push(b"\x01" * 400)
    assert [len(f) for f in frames] == [160, 160, 160]
    assert frames[0] == b"\x00" * 100 + b"\x01" * 60
    assert framer.pending == 20
