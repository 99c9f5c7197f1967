"""When a schedule rings: wall-clock times in an IANA zone turned into UTC instants, across DST changes.

Pure functions, no I/O. Two wall-clock times need a rule:

- A time that does not exist that day (spring forward: 02:30 in New York on the second Sunday of March)
  rings at the first valid instant after it: the moment the clocks jump (03:00 EDT).
- A time that happens twice (fall back: 01:30 in New York on the first Sunday of November) rings once,
  at its first occurrence (fold=0, still on summer time: 01:30 EDT); the second 01:30 is not a new
  occurrence because the next candidate is the following day's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DAILY = frozenset(range(1, 8))
WEEKDAYS = frozenset(range(1, 6))
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # ISO order: 1 = Monday


@dataclass(frozen=True)
class Recurrence:
    """Every chosen ISO weekday (1 = Monday) at a wall-clock time in a zone."""

    local_time: time
    weekdays: frozenset[int]
    timezone: str

    def __post_init__(self) -> None:
        if not self.weekdays or not self.weekdays <= DAILY:
            raise ValueError("weekdays must be a non-empty set of ISO days 1..7")
        if self.local_time.tzinfo is not None:
            raise ValueError("local_time is a wall-clock time, without a zone")


def resolve_local(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time on a day: a skipped time -> when the clocks jump, a repeated
    time -> its first occurrence."""
    wall = datetime.combine(day, at)
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first  # exists (fold=0 is the earlier of two if it is repeated)
    # In a gap: fold=0 and fold=1 land on either side of the jump; find the jump to the second.
    other = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    low, high = min(first, other), max(first, other)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0)


def next_occurrence(recurrence: Recurrence, after: datetime) -> datetime:
    """The first occurrence strictly after the UTC instant `after`."""
    zone = ZoneInfo(recurrence.timezone)
    day = after.astimezone(zone).date() - timedelta(days=1)  # a jump can move the day's time backwards
    for offset in range(9):
        candidate_day = day + timedelta(days=offset)
        if candidate_day.isoweekday() not in recurrence.weekdays:
            continue
        instant = resolve_local(candidate_day, recurrence.local_time, zone)
        if instant > after:
            return instant
    raise AssertionError("a weekly recurrence always has an occurrence within 9 days")


def occurrences(recurrence: Recurrence, after: datetime, count: int) -> Iterator[datetime]:
    """The next `count` occurrences after `after`, in UTC."""
    for _ in range(count):
        after = next_occurrence(recurrence, after)
        yield after


def local_instant(wall: datetime, timezone: str) -> datetime:
    """A one-off time as given: with an offset it is already an instant; without one it is wall-clock
    time in `timezone`, resolved by the same DST rules as a recurrence."""
    if wall.tzinfo is not None:
        return wall.astimezone(UTC)
    return resolve_local(wall.date(), wall.time(), ZoneInfo(timezone))


def in_quiet_hours(instant: datetime, timezone: str, start: time | None, end: time | None) -> bool:
    """Whether the instant's wall-clock time in the zone is within [start, end); start > end wraps midnight."""
    if start is None or end is None:
        return False
    now = instant.astimezone(ZoneInfo(timezone)).time().replace(tzinfo=None)
    if start < end:
        return start <= now < end
    return now >= start or now < end
