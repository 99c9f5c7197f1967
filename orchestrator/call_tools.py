"""What the persona's tools do during a live call (beyond end_call, which the Call handles itself).

`schedule_callback`: the caller says "call me tomorrow at seven", the model resolves it to the caller's
local time (the prompt tells it their date, time and zone) and we create a one-off schedule through the
same path as POST /api/schedules. The persona then says a fixed confirmation with the time in words, so
what the caller hears is what was stored, not the model's paraphrase; a time we cannot use gets a short
apology instead. A handler never raises: an exception here would end the whole call.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from db import schedules
from media.call import ToolHandler
from orchestrator.config import ScheduleSection
from orchestrator.schedule_times import local_instant
from orchestrator.schedules import next_run
from personas.llm import ToolCall

log = logging.getLogger(__name__)

MAX_AHEAD = timedelta(days=30)
MIN_AHEAD = timedelta(minutes=1)
_CONTEXT = "They asked for this call back while talking with you."

SORRY_WHEN = "Sorry, I didn't catch when to call you back. What time works for you?"
SORRY_PAST = "Sorry, that time has already passed. When should I call you?"
SORRY_FAR = f"Sorry, I can only schedule a call up to {MAX_AHEAD.days} days ahead."
SORRY_FULL = "Sorry, you already have as many scheduled calls as I can keep. You can remove one in the app."
SORRY_FAILED = "Sorry, I couldn't set that up just now. Please schedule it in the app."


def call_tools(pool: asyncpg.Pool, settings: ScheduleSection, context: asyncpg.Record) -> ToolHandler | None:
    """The tool handler for one call (None when the call has no user to schedule for)."""
    user_id, persona_id, timezone = context["user_id"], context["persona_id"], context["timezone"]
    if user_id is None or not timezone:
        return None

    async def use(call: ToolCall) -> str | None:
        if call.name != "schedule_callback":
            log.info("tool %s: not a tool of this call", call.name)
            return None
        return await schedule_callback(pool, settings, user_id, persona_id, timezone, call.arguments)

    return use


async def schedule_callback(
    pool: asyncpg.Pool,
    settings: ScheduleSection,
    user_id: object,
    persona_id: str,
    timezone: str,
    arguments: object,
    now: datetime | None = None,
) -> str:
    """Create the one-off schedule; returns what the persona says."""
    now = now or datetime.now(UTC)
    when = arguments.get("when") if isinstance(arguments, dict) else None
    try:
        instant = local_instant(datetime.fromisoformat(when), timezone) if isinstance(when, str) else None
    except ValueError:
        instant = None
    if instant is None:
        log.info("schedule_callback: unusable time %.40r", when)
        return SORRY_WHEN
    if instant < now + MIN_AHEAD:
        return SORRY_PAST
    if instant > now + MAX_AHEAD:
        return SORRY_FAR
    purpose = arguments.get("purpose") if isinstance(arguments, dict) else None
    purpose = purpose.strip()[:200] if isinstance(purpose, str) and purpose.strip() else "callback"
    fields = {
        "user_id": user_id,
        "persona_id": persona_id,
        "purpose": purpose,
        "context": _CONTEXT,
        "timezone": timezone,
        "max_retries": settings.max_retries,
        "retry_interval_s": settings.retry_interval_s,
        "kind": "once",
        "run_at": instant,
        "local_time": None,
        "weekdays": None,
    }
    fields["next_run_at"] = next_run(fields, now)
    try:
        row = await schedules.create_schedule(pool, settings.max_per_user, **fields)
    except schedules.TooManySchedules:
        return SORRY_FULL
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.warning("schedule_callback: could not create the schedule (%s)", type(exc).__name__)
        return SORRY_FAILED
    log.info("schedule_callback: schedule %s at %s", row["id"], instant.isoformat())
    line = f"Okay, I'll call you {spoken_when(instant, timezone, now)}"
    return line if line.endswith(".") else line + "."  # "... seven a.m." already ends the sentence


def spoken_when(instant: datetime, timezone: str, now: datetime) -> str:
    """'tomorrow at seven a.m.', 'on Friday at six thirty p.m.', 'on Friday, December 4 at noon'."""
    zone = ZoneInfo(timezone)
    local, today = instant.astimezone(zone), now.astimezone(zone).date()
    days = (local.date() - today).days
    if days == 0:
        day = "today"
    elif days == 1:
        day = "tomorrow"
    elif days < 7:
        day = f"on {local:%A}"
    else:
        day = f"on {local:%A, %B} {local.day}"
    return f"{day} at {spoken_time(local.hour, local.minute)}"


def spoken_time(hour: int, minute: int) -> str:
    """A clock time as a person says it: 'seven a.m.', 'seven oh five p.m.', 'noon', 'midnight'."""
    if minute == 0 and hour in (0, 12):
        return "midnight" if hour == 0 else "noon"
    words = _number(hour % 12 or 12)
    if minute:
        words += " oh " + _number(minute) if minute < 10 else " " + _number(minute)
    return f"{words} {'a.m.' if hour < 12 else 'p.m.'}"


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}


def _number(n: int) -> str:
    """0..59 in words."""
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")
