"""What the caller actually heard, from mark echoes.

Each spoken chunk is followed by a mark. An echo before we send `clear` means the audio before it
played; after a `clear` the far end echoes every pending mark without playing its audio, so those
echoes do not count. The heard text is the chunks whose marks came back in time, never an estimate
from bytes sent.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Segment:
    mark: str
    text: str
    played_at: float | None = None


@dataclass
class Playback:
    """One reply's chunks on their way to the caller's ear."""

    reply_id: int
    segments: list[Segment] = field(default_factory=list)
    cut: bool = False
    first_played_at: float | None = None
    _drained: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, mark: str, text: str) -> None:
        self.segments.append(Segment(mark, text))
        self._drained.clear()

    def echoed(self, mark: str, now: float) -> None:
        if self.cut:
            return  # echoed because of our clear: flushed, not played
        for segment in self.segments:
            if segment.mark == mark and segment.played_at is None:
                segment.played_at = now
                self.first_played_at = self.first_played_at or now
        if all(segment.played_at is not None for segment in self.segments):
            self._drained.set()

    def stop(self) -> None:
        """A clear was sent: whatever has not echoed yet was not heard."""
        self.cut = True
        self._drained.set()

    async def drained(self) -> None:
        """Wait until every chunk added so far has played (or the reply was cut)."""
        if self.segments:
            await self._drained.wait()

    @property
    def heard_text(self) -> str:
        return " ".join(s.text for s in self.segments if s.played_at is not None)

    @property
    def playing(self) -> bool:
        return not self.cut and any(s.played_at is None for s in self.segments)


class PlaybackClock:
    """Routes mark echoes to the reply they belong to (marks are named `<reply>.<chunk>`)."""

    def __init__(self) -> None:
        self._replies: dict[int, Playback] = {}

    def start(self, reply_id: int) -> Playback:
        playback = Playback(reply_id)
        self._replies[reply_id] = playback
        return playback

    def mark_name(self, playback: Playback) -> str:
        return f"{playback.reply_id}.{len(playback.segments)}"

    def echoed(self, name: str) -> None:
        reply, _, _ = name.partition(".")
        playback = self._replies.get(int(reply)) if reply.isdigit() else None
        if playback is not None:
            playback.echoed(name, time.monotonic())

    def finish(self, playback: Playback) -> None:
        self._replies.pop(playback.reply_id, None)
