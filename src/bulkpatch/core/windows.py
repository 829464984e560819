"""Time windows: the change window a run may send in (``--window``) and a campaign's calling hours.

Both are wall-clock spans in a time zone, on some days of the week.  Everything here is a pure
function of an instant (an aware ``datetime``): the run asks "is the window open now, and until
when?" and "when does it open next?"; the planner of a pause asks "is this campaign inside its
calling hours now, and until when?".

``--window "[DAYS ]HH:MM[:SS]-HH:MM[:SS][ ZONE]"``:

- ``DAYS``: day names or their first three letters, comma-separated, with ranges
  (``Mon-Fri``, ``Sat,Sun``); every day when left out.  A day names the day the window *opens*:
  ``Fri 22:00-06:00`` runs from Friday 22:00 to Saturday 06:00.
- An end earlier than the start crosses midnight (``22:00-06:00``); an end equal to the start is
  refused (say ``00:00-23:59:59`` for a whole day).
- ``ZONE``: an IANA name (``Asia/Kolkata``); by default the machine's own zone, as cron's.
- Daylight saving: a start or end in the hour skipped when clocks go forward is taken as the
  moment the wall clock passes it (``02:30`` on that day is ``03:30``); in the hour repeated when
  clocks go back, its first occurrence.

Calling hours (``allowed_schedule``): ``allowed_days``, ``allowed_start_time`` before
``allowed_end_time`` (the API does not cross midnight) in ``timezone``.  A campaign with no
``allowed_schedule``, or one that allows every day from 00:00 to 23:59, calls at all hours.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_DAY_INDEX = {name.lower(): i for i, name in enumerate(DAY_NAMES)} | {
    name[:3].lower(): i for i, name in enumerate(DAY_NAMES)
}
_CLOCK = r"(\d{1,2}):(\d{2})(?::(\d{2}))?"
_WINDOW_RE = re.compile(
    rf"^\s*(?:(?P<days>[A-Za-z][A-Za-z,\- ]*?)\s+)?(?P<start>{_CLOCK})\s*-\s*(?P<end>{_CLOCK})"
    r"(?:\s+(?P<zone>\S+))?\s*$"
)
#: How far ahead :meth:`Window.next_open` looks: a week covers every day set.
_HORIZON_DAYS = 8


class WindowError(ValueError):
    """A ``--window`` that cannot be read; ``str()`` says why and shows the form."""


def local_zone(environ: Mapping[str, str] | None = None) -> ZoneInfo:
    """The machine's own time zone, as cron reads it: ``TZ``, else ``/etc/localtime``; UTC when
    neither names an IANA zone."""
    env = os.environ if environ is None else environ
    name = env.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    marker = "zoneinfo/"
    if marker in target:
        try:
            return ZoneInfo(target.split(marker, 1)[1])
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo("UTC")


def _clock(hours: str, minutes: str, seconds: str | None, text: str) -> time:
    h, m, s = int(hours), int(minutes), int(seconds or 0)
    if h > 23 or m > 59 or s > 59:
        raise WindowError(f"--window {text!r}: {hours}:{minutes} is not a time of day")
    return time(h, m, s)


def _days(text: str, whole: str) -> frozenset[int]:
    days: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        ends = [e.strip().lower() for e in part.split("-")]
        if len(ends) > 2 or any(e not in _DAY_INDEX for e in ends):
            raise WindowError(
                f"--window {whole!r}: {part!r} is not a day or a range of days "
                "(Mon, Tuesday, Mon-Fri, Sat,Sun)"
            )
        first, last = _DAY_INDEX[ends[0]], _DAY_INDEX[ends[-1]]
        span = (last - first) % 7
        days.update((first + i) % 7 for i in range(span + 1))
    return frozenset(days)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """``clock`` on ``day`` in ``zone`` as a UTC instant.  ``fold=0`` gives what the module
    promises: a skipped wall time takes the offset before the gap (so it lands where the clock
    passes it), a repeated one its first occurrence."""
    return datetime.combine(day, clock).replace(tzinfo=zone, fold=0).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Span:
    """One opening of a window: ``[opens, closes)`` in UTC."""

    opens: datetime
    closes: datetime

    def holds(self, instant: datetime) -> bool:
        return self.opens <= instant < self.closes

    @property
    def seconds(self) -> float:
        return (self.closes - self.opens).total_seconds()


@dataclass(frozen=True, slots=True)
class Window:
    """Wall-clock hours on some days of the week in one zone.  ``days``: 0 = Monday."""

    start: time
    end: time
    zone: ZoneInfo
    days: frozenset[int] = frozenset(range(7))
    text: str = ""

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def spans_near(self, instant: datetime) -> list[Span]:
        """The openings that start from the day before ``instant`` to a week after, in order."""
        today = instant.astimezone(self.zone).date()
        spans = []
        for offset in range(-1, _HORIZON_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            closing_day = day + timedelta(days=1) if self.crosses_midnight else day
            opens, closes = _at(day, self.start, self.zone), _at(closing_day, self.end, self.zone)
            if closes > opens:
                spans.append(Span(opens, closes))
        return spans

    def current(self, instant: datetime) -> Span | None:
        """The opening ``instant`` is in, or ``None`` when the window is closed then."""
        return next((s for s in self.spans_near(instant) if s.holds(instant)), None)

    def next_open(self, instant: datetime) -> Span | None:
        """The next opening that starts after ``instant`` (``None`` only for an empty day set)."""
        return next((s for s in self.spans_near(instant) if s.opens > instant), None)

    def describe(self) -> str:
        return self.text or f"{self.start:%H:%M}-{self.end:%H:%M} {self.zone.key}"


def parse_window(text: str, *, default_zone: ZoneInfo | None = None) -> Window:
    """``--window`` text as a :class:`Window`; :class:`WindowError` says what is wrong."""
    match = _WINDOW_RE.match(text)
    if match is None:
        raise WindowError(
            f'--window {text!r} cannot be read: use "[DAYS ]HH:MM-HH:MM[ ZONE]", for example '
            '"22:00-06:00 Asia/Kolkata" or "Sat,Sun 00:00-23:59"'
        )
    start = _clock(match.group(3), match.group(4), match.group(5), text)
    end = _clock(match.group(7), match.group(8), match.group(9), text)
    if start == end:
        raise WindowError(
            f"--window {text!r}: the end equals the start; for a whole day say 00:00-23:59:59"
        )
    zone_name = match.group("zone")
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise WindowError(
                f"--window {text!r}: {zone_name!r} is not a time zone (an IANA name such as "
                "Asia/Kolkata or America/New_York)"
            ) from None
    else:
        zone = default_zone or local_zone()
    days = _days(match.group("days"), text) if match.group("days") else frozenset(range(7))
    return Window(start=start, end=end, zone=zone, days=days, text=" ".join(text.split()))


def zoned_window(text: str, *, default_zone: ZoneInfo | None = None) -> str:
    """``--window`` text as it is kept (in a journal, a printed command): checked, and with
    its zone named, so that a resume elsewhere means the same hours."""
    window = parse_window(text, default_zone=default_zone)
    match = _WINDOW_RE.match(text)
    assert match is not None
    return window.text if match.group("zone") else f"{window.text} {window.zone.key}"


# ---------------------------------------------------------------------------------------------
# A campaign's calling hours
# ---------------------------------------------------------------------------------------------

ALL_HOURS = "it calls at all hours"


@dataclass(frozen=True, slots=True)
class CallingState:
    """Whether a campaign may be dialling at an instant.  ``until``: when the current calling
    hours end (``None`` when it is outside them, or calls at all hours); ``why``: a reason a
    person reads."""

    inside: bool
    until: datetime | None
    why: str


def calling_hours(schedule: Any) -> Window | None:
    """A campaign's ``allowed_schedule`` (as read) as a :class:`Window`; ``None`` when it calls
    at all hours (none set, every day from 00:00 to 23:59, or a schedule that cannot be read)."""
    if not isinstance(schedule, Mapping):
        return None
    try:
        start = time.fromisoformat(str(schedule["allowed_start_time"]))
        end = time.fromisoformat(str(schedule["allowed_end_time"]))
        zone = ZoneInfo(str(schedule.get("timezone") or "Asia/Kolkata"))
        days = frozenset(_DAY_INDEX[str(d).lower()] for d in schedule["allowed_days"])
    except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
        return None
    if end <= start or not days:
        return None
    if len(days) == 7 and start == time(0, 0) and end >= time(23, 59):
        return None
    return Window(start=start, end=end, zone=zone, days=days)


def calling_state(schedule: Any, instant: datetime) -> CallingState:
    """Is the campaign with this ``allowed_schedule`` inside its calling hours at ``instant``?"""
    hours = calling_hours(schedule)
    if hours is None:
        return CallingState(True, None, ALL_HOURS)
    span = hours.current(instant)
    if span is None:
        return CallingState(False, None, "outside its calling hours")
    local = span.closes.astimezone(hours.zone)
    return CallingState(
        True, span.closes, f"inside its calling hours until {local:%H:%M} {hours.zone.key}"
    )


# ---------------------------------------------------------------------------------------------
# Estimates
# ---------------------------------------------------------------------------------------------


def _hours(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{round(seconds / 3600)} h"


def countdown(seconds: float) -> str:
    """``3:12:05``: hours, minutes and seconds left."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def estimate(
    requests: int, rate: float, *, window: Window | None = None, now: datetime | None = None
) -> str:
    """How long ``requests`` take at ``rate`` requests/s, and with a window how many of its
    openings: ``"about 28 h at 10 req/s: 4 windows of 8 h"``."""
    if requests <= 0:
        return "nothing to send"
    if math.isinf(rate) or rate <= 0:
        return f"{requests} requests, as fast as the API answers"
    seconds = requests / rate
    rate_text = f"{rate:g} req/s"
    text = f"about {_hours(seconds)} at {rate_text}"
    if window is None:
        return text
    at = now or datetime.now(UTC)
    span = window.current(at) or window.next_open(at)
    if span is None or span.seconds <= 0:
        return text
    count = math.ceil(seconds / span.seconds)
    plural = "window" if count == 1 else "windows"
    return f"{text}: {count} {plural} of {_hours(span.seconds)}"
