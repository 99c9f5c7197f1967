"""Next-occurrence math: wall-clock times in IANA zones, across both DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from orchestrator.schedule_times import (
    DAILY,
    WEEKDAYS,
    Recurrence,
    in_quiet_hours,
    local_instant,
    next_occurrence,
    occurrences,
)

NEW_YORK = "America/New_York"
LONDON = "Europe/London"


def _local(instants, zone: str) -> list[str]:
    return [instant.astimezone(ZoneInfo(zone)).isoformat() for instant in instants]


def test_daily_keeps_its_wall_clock_time_across_spring_forward() -> None:
    rule = Recurrence(time(7, 0), DAILY, NEW_YORK)
    after = datetime(2026, 3, 7, 0, 0, tzinfo=UTC)  # DST starts Sunday 2026-03-08
    assert _local(occurrences(rule, after, 3), NEW_YORK) == [
        "2026-03-07T07:00:00-05:00",
        "2026-03-08T07:00:00-04:00",
        "2026-03-09T07:00:00-04:00",
    ]
    # 23 hours between the two wake-ups across the change, not 24.
    first, second, _ = occurrences(rule, after, 3)
    assert (second - first).total_seconds() == 23 * 3600


def test_nonexistent_time_runs_when_the_clocks_jump() -> None:
    rule = Recurrence(time(2, 30), DAILY, NEW_YORK)  # 02:00-03:00 does not exist on 2026-03-08
    after = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
    first, second = occurrences(rule, after, 2)
    assert first == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT: the first valid instant after
    assert _local([first, second], NEW_YORK) == ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]


def test_ambiguous_time_runs_once_at_its_first_occurrence() -> None:
    rule = Recurrence(time(1, 30), DAILY, NEW_YORK)  # 01:00-02:00 happens twice on 2026-11-01
    after = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)
    first, second = occurrences(rule, after, 2)
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # fold=0: 01:30 EDT
    assert _local([first, second], NEW_YORK) == ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]
    # Asked just after the first 01:30 (so during the repeated hour), the second 01:30 is not a new one.
    assert next_occurrence(rule, first) == second


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Europe/London: BST starts 2026-03-29 01:00 GMT (01:30 does not exist), ends 2026-10-25 02:00 BST.
        (datetime(2026, 3, 28, 12, tzinfo=UTC), ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]),
        (datetime(2026, 10, 24, 12, tzinfo=UTC), ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]),
    ],
)
def test_london_both_directions(after: datetime, expected: list[str]) -> None:
    rule = Recurrence(time(1, 30), DAILY, LONDON)
    assert _local(occurrences(rule, after, 2), LONDON) == expected


def test_weekdays_skip_the_weekend() -> None:
    rule = Recurrence(time(8, 15), WEEKDAYS, LONDON)
    friday_evening = datetime(2026, 3, 27, 18, tzinfo=UTC)
    # Monday 2026-03-30 is the first weekday, and already on BST.
    assert _local(occurrences(rule, friday_evening, 2), LONDON) == [
        "2026-03-30T08:15:00+01:00",
        "2026-03-31T08:15:00+01:00",
    ]


def test_chosen_days_and_the_same_day_before_and_after_the_time() -> None:
    rule = Recurrence(time(18, 0), frozenset({2, 6}), NEW_YORK)  # Tuesday and Saturday
    tuesday_morning = datetime(2026, 11, 3, 12, tzinfo=UTC)
    assert _local(occurrences(rule, tuesday_morning, 3), NEW_YORK) == [
        "2026-11-03T18:00:00-05:00",
        "2026-11-07T18:00:00-05:00",
        "2026-11-10T18:00:00-05:00",
    ]
    at_the_time = datetime(2026, 11, 3, 23, tzinfo=UTC)  # exactly Tuesday 18:00: strictly after
    assert _local([next_occurrence(rule, at_the_time)], NEW_YORK) == ["2026-11-07T18:00:00-05:00"]


def test_a_whole_skipped_day_still_rings() -> None:
    # Samoa skipped 2011-12-30 entirely; a daily 09:00 rings at the first instant after (00:00 on the 31st).
    rule = Recurrence(time(9, 0), DAILY, "Pacific/Apia")
    after = datetime(2011, 12, 29, 20, 0, tzinfo=UTC)  # 29th 10:00 local
    assert _local(occurrences(rule, after, 2), "Pacific/Apia") == [
        "2011-12-31T00:00:00+14:00",
        "2011-12-31T09:00:00+14:00",
    ]


def test_one_off_local_time_and_offsets() -> None:
    assert local_instant(datetime(2026, 3, 8, 2, 30), NEW_YORK) == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert local_instant(datetime(2026, 11, 1, 1, 30), NEW_YORK) == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    with_offset = datetime.fromisoformat("2026-06-01T09:00:00+02:00")
    assert local_instant(with_offset, NEW_YORK) == datetime(2026, 6, 1, 7, 0, tzinfo=UTC)


def test_quiet_hours_wrap_midnight() -> None:
    start, end = time(22, 0), time(7, 0)
    at = lambda hour, minute=0: datetime(2026, 7, 1, hour, minute, tzinfo=ZoneInfo(NEW_YORK))  # noqa: E731
    assert in_quiet_hours(at(23), NEW_YORK, start, end)
    assert in_quiet_hours(at(6, 59), NEW_YORK, start, end)
    assert not in_quiet_hours(at(7), NEW_YORK, start, end)
    assert not in_quiet_hours(at(21, 59), NEW_YORK, start, end)
    assert in_quiet_hours(at(13), NEW_YORK, time(12, 0), time(14, 0))
    assert not in_quiet_hours(at(23), NEW_YORK, None, None)
