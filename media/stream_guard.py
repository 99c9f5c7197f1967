"""The policing every media websocket shares: malformed messages counted, floods cut off.

A stream that keeps sending bad messages, or more messages than real time needs for FLOOD_WINDOWS
whole seconds, is closed with a policy code and the reason, while every other call goes on untouched.
Twilio's stream and the browser's use the same limits from `[call]`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

FLOOD_WINDOWS = 2
"""A stream over its message rate for this many consecutive 1-second windows is closed."""


@dataclass
class StreamStats:
    frames_in: int = 0
    violations: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class StreamGuard:
    def __init__(self, *, max_violations: int, max_messages_per_s: int) -> None:
        self._max_violations = max_violations
        self._max_messages_per_s = max_messages_per_s
        self._window_start = time.monotonic()
        self._window_count = 0
        self._windows_over = 0
        self.stats = StreamStats()

    @property
    def max_messages_per_s(self) -> int:
        return self._max_messages_per_s

    def flooding(self) -> bool:
        """Count a message; True once the rate has been over the limit for FLOOD_WINDOWS whole seconds."""
        now = time.monotonic()
        if now - self._window_start >= 1.0:
            over = self._window_count > self._max_messages_per_s
            # A gap of more than one window means the sender paused: the run of busy seconds is broken.
            self._windows_over = self._windows_over + 1 if over and now - self._window_start < 2.0 else int(over)
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count > self._max_messages_per_s and self._windows_over >= FLOOD_WINDOWS - 1:
            return True  # over the limit in this window too, after FLOOD_WINDOWS - 1 full windows over it
        return False

    def violation(self, reason: str, *, fatal: bool = False) -> bool:
        """Count a bad message. True: the stream is hopeless (fatal, or over the limit) and must be closed."""
        self.stats.violations += 1
        self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
        return fatal or self.stats.violations > self._max_violations
