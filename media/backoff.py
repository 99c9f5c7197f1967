"""Backing off a failing remote engine: refuse at once for a while instead of sending every request to a
provider that keeps failing.

After `threshold` failures in a row the engine refuses requests (raising its own error, so each call says
its fallback line at once instead of waiting on the provider) for a pause that grows while it keeps
failing: 1, 2, 5, 10, then 30 s. When a pause is over, requests go through again; the first success
resets everything, a failure starts the next, longer pause. Shared by the OpenAI-compatible engines (a
local model's process is restarted instead: personas/local_llm.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

PAUSES_S = (1.0, 2.0, 5.0, 10.0, 30.0)


class Backoff:
    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        pauses_s: tuple[float, ...] = PAUSES_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.pauses_s = pauses_s
        self.clock = clock
        self.failures = 0  # in a row
        self.refused = 0  # requests refused while backing off
        self._pauses = 0
        self._until = 0.0

    def refusal(self) -> str | None:
        """Why a request must not be sent now, or None to send it."""
        left = self._until - self.clock()
        if left <= 0:
            return None
        self.refused += 1
        return f"{self.name} is backing off for {left:.1f} s after {self.failures} failures in a row"

    def succeeded(self) -> None:
        if self._pauses:
            log.info("%s answers again after %d failures", self.name, self.failures)
        self.failures = 0
        self._pauses = 0
        self._until = 0.0

    def failed(self) -> None:
        self.failures += 1
        if self.failures < self.threshold:
            return
        pause = self.pauses_s[min(self._pauses, len(self.pauses_s) - 1)]
        self._pauses += 1
        self._until = self.clock() + pause
        log.warning("%s failed %d times in a row: backing off for %.0f s", self.name, self.failures, pause)
