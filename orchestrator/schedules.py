"""What a schedule means: its purpose as the call's context, its recurrence, and when it runs next.

The API and the executor share these rules, so a schedule shown as "next at 07:00" is the one placed then.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from db import schedules
from orchestrator.schedule_times import Recurrence, next_occurrence, occurrences

# Preset purposes; anything else is free text and becomes the context as written.
PURPOSES: dict[str, str] = {
    "wake-up": "This is a scheduled wake-up call: make sure they are awake and getting up, warmly but firmly.",
    "check-in": "This is a scheduled accountability check-in: ask how their goals are going and what comes next.",
    "interview-practice": "This is a scheduled interview practice call: play the interviewer, ask one question "
    "at a time, and give short feedback.",
    "escape-call": "This is a scheduled escape call: they may be somewhere they want to leave, so sound like a "
    "friend who urgently needs them, and keep it short and believable.",
}


def call_context(purpose: str, notes: str) -> str:
    """The call's context: a preset purpose's brief (or the free-text purpose), then the user's notes."""
    parts = [PURPOSES.get(purpose, f"This is a scheduled call. Its purpose: {purpose}"), notes.strip()]
    return "\n".join(part for part in parts if part)[:2000]


def recurrence(row: asyncpg.Record) -> Recurrence | None:
    if row["kind"] != "recurring":
        return None
    return Recurrence(row["local_time"], frozenset(row["weekdays"]), row["timezone"])


def next_run(row: asyncpg.Record, after: datetime) -> datetime | None:
    """The first occurrence after `after`: a recurring schedule's next one, a one-off's own time if still
    ahead, else None (done)."""
    rule = recurrence(row)
    if rule is not None:
        return next_occurrence(rule, after)
    return row["run_at"] if row["run_at"] > after else None


def upcoming(row: asyncpg.Record, count: int) -> list[datetime]:
    """The next `count` occurrences the executor will place (none while paused)."""
    first = row["next_run_at"]
    if first is None:
        return []
    rule = recurrence(row)
    if rule is None:
        return [first]
    return [first, *occurrences(rule, first, count - 1)]


async def follow_timezone(conn: asyncpg.Connection, user_id: uuid.UUID, timezone: str, now: datetime) -> None:
    """A user who moves keeps their 07:00 wake-up at 07:00 where they now are."""
    rows = await schedules.recurring_for_user(conn, user_id)
    moved = []
    for row in rows:
        if row["next_run_at"] is None:
            continue  # paused: recomputed on resume
        rule = Recurrence(row["local_time"], frozenset(row["weekdays"]), timezone)
        moved.append((row["id"], next_occurrence(rule, now)))
    await schedules.move_timezone(conn, user_id, timezone, moved)
