"""Exact 20 ms frames out of byte streams of any chunking.

TTS engines hand over whole sentences, resamplers return a few samples more or less per call, and
websockets split or merge messages: the pacer and the mark clock both count in whole frames (Twilio
plays 160 mu-law bytes per 20 ms), so everything is re-chunked here, keeping the remainder for the
next push instead of sending odd-sized or zero-padded pieces mid-stream.
"""

from __future__ import annotations


def frame_bytes(sample_rate: int, frame_ms: int, sample_width: int) -> int:
    """Bytes in one mono frame; a rate that does not divide into whole samples per frame is refused,
    since rounding would drift the audio clock by a sample every few frames."""
    samples, rest = divmod(sample_rate * frame_ms, 1000)
    if rest or samples <= 0:
        raise ValueError(f"{frame_ms} ms at {sample_rate} Hz is not a whole number of samples")
    return samples * sample_width


class Framer:
    """Re-chunks a byte stream into frames of exactly `size` bytes.

    `silence` is the one-byte code of a zero sample in the stream's format (0xFF for mu-law, 0x00 for
    PCM16), used to pad the final partial frame on `flush()`.
    """

    def __init__(self, size: int, silence: bytes) -> None:
        if size <= 0:
            raise ValueError(f"frame size must be positive, got {size}")
        if len(silence) != 1:
            raise ValueError("silence must be a single byte")
        self.size = size
        self._silence = silence
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back until the next push completes a frame."""
        return len(self._buffer)

    def push(self, data: bytes) -> list[bytes]:
        """Add bytes; return every frame now complete, in order."""
        self._buffer += data
        count = len(self._buffer) // self.size
        if count == 0:
            return []
        view = bytes(self._buffer[: count * self.size])
        del self._buffer[: count * self.size]
        return [view[i * self.size : (i + 1) * self.size] for i in range(count)]

    def flush(self) -> bytes | None:
        """End of stream: the remainder as one frame padded with silence, or None if nothing is left.
        Padding with silence (not dropping) keeps the last syllable audible and the frame count exact."""
        if not self._buffer:
            return None
        frame = bytes(self._buffer) + self._silence * (self.size - len(self._buffer))
        self._buffer.clear()
        return frame

    def clear(self) -> None:
        """Drop the remainder (barge-in): half a frame of the old reply must not start the next one."""
        self._buffer.clear()
