"""Outbound audio at the pace it is played, a small lead ahead.

Twilio queues whatever it is sent and plays it in order. Sending a whole TTS reply at once leaves
`clear` as the only brake and makes the caller's buffer seconds deep; sending with no lead at all lets
every network hiccup empty it (choppy audio). The pacer sends frame n at t0 + n * frame - lead on the
monotonic clock: no sleep error accumulates (each slot is computed from t0, never from the previous
send) and Twilio never holds more than `lead_ms` beyond what is playing.

Items with no duration (marks) go out right behind the frame before them, so a mark echo still means
"everything before me was played". Run `run()` in the call's TaskGroup; producers `put()` and never
wait; a barge-in calls `clear()`, which drops every unsent item at once so no stale audio follows the
`clear` sent to Twilio.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_MIN_LEAD_MS = 20.0
"""One frame. With less, the event loop's timer lateness (~1 ms) alone empties the caller's buffer
before each send, and every frame would restart the schedule."""

_JITTER_SAMPLES = 3000
"""A minute of frames at 50 per second: enough for stable percentiles, bounded memory per call."""


@dataclass(frozen=True, slots=True)
class PacerSettings:
    """`[pacer]` in config.toml."""

    lead_ms: float
    """How far ahead of real time audio may be sent: the caller's buffer against network jitter, and
    the most audio a barge-in can leave playing if a `clear` is lost."""

    def __post_init__(self) -> None:
        if self.lead_ms < _MIN_LEAD_MS:
            raise ValueError(f"pacer.lead_ms must be at least {_MIN_LEAD_MS} ms (one frame)")


@dataclass(frozen=True, slots=True)
class JitterStats:
    """Send lateness (actual - scheduled), over the most recent frames, in ms."""

    count: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    restarts: int
    """Times the queue ran dry until everything sent had played, so the schedule restarted: the pauses
    between replies, or underruns if they happen mid-reply (a producer slower than real time)."""


@dataclass(slots=True)
class _Item(Generic[T]):
    payload: T
    duration_ms: float
    queued_at: float


class Pacer(Generic[T]):
    """Sends `put()` items through `send` on a real-time schedule; one per outbound stream."""

    def __init__(self, settings: PacerSettings, send: Callable[[T], Awaitable[None]]) -> None:
        self.settings = settings
        self._send = send
        self._queue: deque[_Item[T]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._t0: float | None = None  # when the first frame since the clock (re)started began playing
        self._scheduled_ms = 0.0  # audio sent since t0
        self._lateness: deque[float] = deque(maxlen=_JITTER_SAMPLES)
        self._restarts = 0

    @property
    def queued_ms(self) -> float:
        """Audio accepted but not yet sent."""
        return sum(item.duration_ms for item in self._queue)

    def put(self, payload: T, duration_ms: float) -> None:
        """Queue one item: a frame with its duration, or a mark with 0. Never blocks."""
        self._queue.append(_Item(payload, duration_ms, time.monotonic()))
        if len(self._queue) == 1:
            self._wake()

    def clear(self) -> int:
        """Drop every unsent item and restart the clock (Twilio's buffer is cleared at the same time);
        returns how many were dropped. An item already handed to `send` is not recalled."""
        dropped = len(self._queue)
        self._queue.clear()
        self._t0 = None
        self._wake()
        return dropped

    def jitter(self) -> JitterStats:
        if not self._lateness:
            return JitterStats(0, 0.0, 0.0, 0.0, self._restarts)
        ordered = sorted(self._lateness)
        last = len(ordered) - 1
        return JitterStats(
            count=len(ordered),
            p50_ms=ordered[round(0.50 * last)] * 1000,
            p99_ms=ordered[round(0.99 * last)] * 1000,
            max_ms=ordered[-1] * 1000,
            restarts=self._restarts,
        )

    async def run(self) -> None:
        """Send forever; cancel it (end of call) to stop. Errors from `send` propagate to the caller's
        TaskGroup: a dead socket ends the call rather than being logged and ignored."""
        while True:
            if not self._queue:
                await self._sleep(None)
                continue
            item = self._queue[0]
            now = time.monotonic()
            due = self._due(now, item)
            if due > now:
                await self._sleep(due - now)
                continue  # re-read the head: a clear() may have dropped it
            self._queue.popleft()
            if item.duration_ms > 0:
                self._lateness.append(now - max(due, item.queued_at))
                self._scheduled_ms += item.duration_ms
            await self._send(item.payload)

    def _due(self, now: float, item: _Item[T]) -> float:
        """When the head item may go: marks at once, frames lead_ms before their playout slot."""
        if item.duration_ms <= 0:
            return now
        if self._t0 is None or now >= self._t0 + self._scheduled_ms / 1000:
            # First frame, or everything sent has finished playing: keeping the old schedule would
            # burst to catch up, so start a new one from now.
            if self._t0 is not None:
                self._restarts += 1
            self._t0 = now
            self._scheduled_ms = 0.0
        return max(self._t0, self._t0 + (self._scheduled_ms - self.settings.lead_ms) / 1000)

    async def _sleep(self, delay_s: float | None) -> None:
        """Wait for `delay_s` (None: forever) or until put()/clear() wakes us. A plain future and timer
        rather than a timeout context: no cancellation machinery 50 times a second."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None if delay_s is None else loop.call_later(delay_s, _resolve, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def _wake(self) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
