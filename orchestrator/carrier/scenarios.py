"""How the far end behaves, chosen per destination number: answer, busy, no-answer or failed.

A scenario stays attached to its number until replaced or cleared, so a test sets it once and every
call to that number follows it; numbers without one answer after `answer_delay_s` and stay silent.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .errors import ScriptError
from .script import Step, parse_script
from .webhooks import Chaos

ANSWERED_BY = frozenset(
    {
        "human",
        "machine_start",
        "machine_end_beep",
        "machine_end_silence",
        "machine_end_other",
        "fax",
        "unknown",
    }
)


class Outcome(enum.StrEnum):
    ANSWER = "answer"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


@dataclass(frozen=True)
class Scenario:
    """The far end of calls to one number. `ring_s` None means the carrier's answer_delay_s."""

    outcome: Outcome = Outcome.ANSWER
    ring_s: float | None = None
    script: tuple[Step, ...] = ()
    answered_by: str = "human"  # reported only when the call asked for MachineDetection
    chaos: Chaos = field(default_factory=Chaos)

    def __post_init__(self) -> None:
        if self.ring_s is not None and self.ring_s < 0:
            raise ScriptError("ring_s must be >= 0")
        if self.answered_by not in ANSWERED_BY:
            raise ScriptError(f"answered_by must be one of {sorted(ANSWERED_BY)}")

    @classmethod
    def from_json(cls, raw: Any) -> Scenario:
        """`{"outcome": "answer", "ring_s": 1, "script": [...], "answered_by": "human",
        "duplicate_callbacks": false, "reorder_callbacks": false}`; every key optional."""
        if not isinstance(raw, dict):
            raise ScriptError("scenario must be a JSON object")
        known = {"outcome", "ring_s", "script", "answered_by", "duplicate_callbacks", "reorder_callbacks"}
        if unknown := set(raw) - known:
            raise ScriptError(f"unknown scenario keys {sorted(unknown)}")
        try:
            outcome = Outcome(raw.get("outcome", "answer"))
            ring_s = None if raw.get("ring_s") is None else float(raw["ring_s"])
        except (TypeError, ValueError) as exc:
            raise ScriptError(f"scenario: {exc}") from exc
        return cls(
            outcome=outcome,
            ring_s=ring_s,
            script=parse_script(raw.get("script")),
            answered_by=str(raw.get("answered_by", "human")),
            chaos=Chaos(
                duplicate=bool(raw.get("duplicate_callbacks", False)),
                reorder=bool(raw.get("reorder_callbacks", False)),
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome.value,
            "ring_s": self.ring_s,
            "steps": len(self.script),
            "answered_by": self.answered_by,
            "duplicate_callbacks": self.chaos.duplicate,
            "reorder_callbacks": self.chaos.reorder,
        }
