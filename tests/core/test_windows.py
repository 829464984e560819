"""Change windows and calling hours: pure functions of an instant."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkpatch.core.windows import (
    ALL_HOURS,
    WindowError,
    calling_state,
    estimate,
    local_zone,
    parse_window,
)

KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str, zone: ZoneInfo = KOLKATA) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def test_a_window_crossing_midnight_is_open_late_at_night_and_early_in_the_morning() -> None:
    window = parse_window("22:00-06:00 Asia/Kolkata")
    assert window.current(at("2026-12-07 23:30")) is not None
    assert window.current(at("2026-12-08 05:59")) is not None
    assert window.current(at("2026-12-08 06:00")) is None
    assert window.current(at("2026-12-07 21:59")) is None
    span = window.current(at("2026-12-08 01:00"))
    assert span is not None
    assert span.opens == at("2026-12-07 22:00")
    assert span.closes == at("2026-12-08 06:00")


def test_started_outside_the_window_the_next_opening_is_tonight() -> None:
    window = parse_window("22:00-06:00 Asia/Kolkata")
    nxt = window.next_open(at("2026-12-07 12:00"))
    assert nxt is not None
    assert nxt.opens == at("2026-12-07 22:00")


def test_days_name_the_day_a_window_opens_and_ranges_wrap_the_week() -> None:
    weekend = parse_window("Sat,Sun 00:00-23:59 UTC")
    assert weekend.days == frozenset({5, 6})
    assert parse_window("Fri-Mon 01:00-02:00 UTC").days == frozenset({4, 5, 6, 0})
    friday_night = parse_window("Fri 22:00-06:00 UTC")
    # 2026-12-11 is a Friday: the opening runs into Saturday morning.
    assert friday_night.current(at("2026-12-12 05:00", ZoneInfo("UTC"))) is not None
    assert friday_night.current(at("2026-12-13 05:00", ZoneInfo("UTC"))) is None
    nxt = weekend.next_open(at("2026-12-07 10:00", ZoneInfo("UTC")))
    assert nxt is not None
    assert nxt.opens == at("2026-12-12 00:00", ZoneInfo("UTC"))


def test_seconds_are_allowed_so_a_test_can_open_a_window_for_a_moment() -> None:
    window = parse_window("10:00:00-10:00:05 UTC")
    assert window.start == time(10, 0, 0)
    assert window.end == time(10, 0, 5)
    span = window.current(at("2026-12-07 10:00:03", ZoneInfo("UTC")))
    assert span is not None
    assert span.seconds == 5


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("22:00", "cannot be read"),
        ("25:00-06:00", "not a time of day"),
        ("10:00-10:00", "equals the start"),
        ("Funday 10:00-11:00", "not a day"),
        ("10:00-11:00 Mars/Olympus", "not a time zone"),
    ],
)
def test_a_window_that_cannot_be_read_says_why(text: str, says: str) -> None:
    with pytest.raises(WindowError, match=says):
        parse_window(text)


def test_without_a_zone_the_window_is_in_the_machines_zone_as_crons() -> None:
    assert local_zone({"TZ": "America/New_York"}) == NEW_YORK
    assert parse_window("22:00-06:00", default_zone=NEW_YORK).zone == NEW_YORK


def test_on_the_spring_forward_day_a_start_in_the_skipped_hour_opens_when_the_clock_passes_it() -> (
    None
):
    # 2026-03-08: New York's clocks go from 02:00 EST to 03:00 EDT.
    window = parse_window("02:30-04:00 America/New_York")
    span = window.current(datetime(2026, 3, 8, 7, 45, tzinfo=UTC))  # 03:45 EDT
    assert span is not None
    assert span.opens == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)  # 03:30 EDT
    assert span.closes == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 04:00 EDT
    # A night window across the change is an hour shorter.
    night = parse_window("22:00-06:00 America/New_York")
    across = night.current(datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
    assert across is not None
    assert across.seconds == 7 * 3600


def test_on_the_fall_back_day_a_night_window_is_longer_and_a_repeated_time_counts_once() -> None:
    # 2026-11-01: New York's clocks go from 02:00 EDT back to 01:00 EST.
    night = parse_window("22:00-06:00 America/New_York")
    across = night.current(datetime(2026, 11, 1, 6, 30, tzinfo=UTC))
    assert across is not None
    assert across.seconds == 9 * 3600
    repeated = parse_window("01:30-03:00 America/New_York")
    span = repeated.current(datetime(2026, 11, 1, 5, 45, tzinfo=UTC))  # 01:45 EDT, first pass
    assert span is not None
    assert span.opens == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)


@given(start=st.times(), end=st.times(), minute=st.integers(min_value=0, max_value=14 * 24 * 60))
def test_an_instant_is_either_inside_an_opening_or_before_the_next_one(
    start: time, end: time, minute: int
) -> None:
    start, end = start.replace(microsecond=0), end.replace(microsecond=0)
    if start == end:
        return
    window = parse_window(f"{start:%H:%M:%S}-{end:%H:%M:%S} America/New_York")
    instant = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=minute)
    span = window.current(instant)
    if span is not None:
        assert span.opens <= instant < span.closes
    else:
        nxt = window.next_open(instant)
        assert nxt is not None
        assert nxt.opens > instant
        assert nxt.opens - instant <= timedelta(days=1, hours=1)


SCHEDULE = {
    "allowed_days": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"],
    "allowed_start_time": "09:00",
    "allowed_end_time": "18:00",
    "timezone": "Asia/Kolkata",
}


def test_a_campaign_inside_its_calling_hours_says_until_when() -> None:
    state = calling_state(SCHEDULE, at("2026-12-07 10:00"))  # a Monday
    assert state.inside
    assert state.until == at("2026-12-07 18:00")
    assert "until 18:00 Asia/Kolkata" in state.why


def test_a_campaign_outside_its_hours_or_days_is_idle() -> None:
    assert not calling_state(SCHEDULE, at("2026-12-07 20:00")).inside
    assert not calling_state(SCHEDULE, at("2026-12-12 10:00")).inside  # a Saturday
    la = {**SCHEDULE, "timezone": "America/Los_Angeles"}
    # 10:00 in Kolkata is 20:30 the evening before in Los Angeles.
    assert not calling_state(la, at("2026-12-08 10:00")).inside


@pytest.mark.parametrize(
    "schedule",
    [
        None,
        {},
        {
            "allowed_days": [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ],
            "allowed_start_time": "00:00",
            "allowed_end_time": "23:59",
            "timezone": "UTC",
        },
    ],
)
def test_a_campaign_without_calling_hours_is_always_inside_them_and_the_reason_says_so(
    schedule: object,
) -> None:
    state = calling_state(schedule, at("2026-12-07 03:00"))
    assert state.inside
    assert state.until is None
    assert state.why == ALL_HOURS


def test_an_estimate_says_the_time_at_the_rate_and_how_many_windows() -> None:
    assert estimate(1_000_000, 10) == "about 28 h at 10 req/s"
    window = parse_window("22:00-06:00 Asia/Kolkata")
    assert (
        estimate(1_000_000, 10, window=window, now=at("2026-12-07 12:00"))
        == "about 28 h at 10 req/s: 4 windows of 8 h"
    )
    assert estimate(0, 10) == "nothing to send"
    assert estimate(30, 10) == "about 3 s at 10 req/s"
