"""A run inside a change window (``--window``): wait for it to open, stop at its end.

Before anything is sent, :func:`wait_for_window` waits for the window to open (saying when, and
counting down) -- or, with ``--no-wait``, raises :class:`WindowClosedError` at once (exit 75).
Once the run sends, :func:`close_at_end` sleeps until the opening's end and then stops the run
the way a canary does, not the way an outage does: no new row starts, the rows in flight finish
(a campaign a row paused is resumed by that row), the rows not reached end ``not_attempted``, the
reports are written, and the run exits 75 with ``bulkpatch resume RUN_DIR`` as its next step.

Both read the wall clock through :class:`~bulkpatch.core.timing.Timing` (``now``) and sleep
through it, so tests run whole nights on a fake clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from anyio.abc import TaskGroup

from bulkpatch.core.errors import WindowClosedError
from bulkpatch.core.events import EventSink, Notice, WindowWait
from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import RowResult
from bulkpatch.core.timing import Timing
from bulkpatch.core.windows import Span, Window, estimate, parse_window
from bulkpatch.engine.callinghours import CallingHold
from bulkpatch.engine.executor import RunControl

#: Sleep at most this long between looks at the wall clock while waiting (a countdown's step,
#: and how soon a wall clock set forward is noticed) ...
WAIT_STEP = 60.0
#: ... and this long in the last ``2 * WAIT_STEP`` seconds, so that the run starts on time.
LAST_STEP = 1.0


def window_of(options: RunOptions) -> Window | None:
    """The run's change window (checked when the options were made), or None."""
    return parse_window(options.window) if options.window else None


def at(instant: datetime, window: Window) -> str:
    """``06:00 Asia/Kolkata``: an instant on the window's own clock."""
    return f"{_clock_text(instant.astimezone(window.zone))} {window.zone.key}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


async def wait_for_window(
    window: Window,
    timing: Timing,
    emit: EventSink,
    *,
    no_wait: bool,
    stopped: Callable[[], str],
) -> Span:
    """The opening of ``window`` the run sends in: the current one, or the next once it opens.

    Outside it, with ``no_wait``: :class:`WindowClosedError` (nothing was sent).  Else a notice
    says when it opens, :class:`WindowWait` events count down, and nothing is sent meanwhile; a
    stop asked for while waiting (``stopped()`` says why) raises ``KeyboardInterrupt``.
    """
    told = False
    while True:
        now = timing.now()
        span = window.current(now)
        if span is not None:
            if told:
                emit(Notice("info", f"the change window {window.describe()} is open", "window"))
            return span
        upcoming = window.next_open(now)
        assert upcoming is not None  # a window opens on at least one day a week
        left = (upcoming.opens - now).total_seconds()
        opens = f"{at(upcoming.opens, window)} ({upcoming.opens:%Y-%m-%d %H:%M} UTC)"
        if no_wait:
            raise WindowClosedError(
                f"outside the change window {window.describe()}: it opens at {opens}, in "
                f"{_duration(left)}; nothing was sent (--no-wait). Run the same command then"
            )
        if not told:
            told = True
            emit(
                Notice(
                    "info",
                    f"outside the change window {window.describe()}: waiting until it opens at "
                    f"{opens}, in {_duration(left)}; nothing is sent meanwhile",
                    "window_wait",
                )
            )
        emit(WindowWait(window.describe(), upcoming.opens, left))
        if stopped():
            raise KeyboardInterrupt
        await timing.sleep(min(left, WAIT_STEP if left > 2 * WAIT_STEP else LAST_STEP))


async def close_at_end(span: Span, timing: Timing, on_close: Callable[[], None]) -> None:
    """Sleep until ``span`` closes (on the wall clock, looked at again at least every
    :data:`WAIT_STEP`), then call ``on_close``."""
    while (left := (span.closes - timing.now()).total_seconds()) > 0:
        await timing.sleep(min(left, WAIT_STEP))
    on_close()


def closed_reason(window: Window, span: Span) -> str:
    """Why the rows not reached are ``not_attempted``."""
    return f"the change window {window.describe()} closed at {at(span.closes, window)}"


def _clock_text(instant: datetime) -> str:
    return f"{instant:%H:%M:%S}" if instant.second else f"{instant:%H:%M}"


def estimate_line(
    rows: int,
    options: RunOptions,
    *,
    window: Window | None,
    now: datetime,
    writes: int | None = None,
    active: int | None = None,
) -> str:
    """How long the rows take at the rate: a GET and a PATCH per row (a PATCH alone with
    ``--no-read``), two more (pause, resume) per active campaign with ``--pause-active`` -- the
    plan's own counts when it read them (``writes``, ``active``), else "at least"."""
    reads = 0 if options.no_read else rows
    requests = reads + (rows if writes is None else writes) + 2 * (active or 0)
    least = options.pause_active and active is None
    rate = options.rate if options.rate is not None else math.inf
    counted = f"{rows:,} rows, {'at least ' if least else ''}{requests:,} requests"
    if math.isinf(rate) or not requests:
        return (
            f"{counted}, as fast as the API answers" if requests else f"{counted}: nothing to send"
        )
    return f"{counted}: {estimate(requests, rate, window=window, now=now)}"


@dataclass
class RunWindow:
    """A session's change window and calling-hours hold, from the wait to the summary."""

    options: RunOptions
    timing: Timing
    sending: bool = True
    window: Window | None = None
    span: Span | None = None
    hold: CallingHold | None = None
    #: The window closed on the run with rows left.
    closed: bool = False
    #: What a plan found (for its estimate): rows it would update, and of those, active ones.
    writes: int = 0
    active: int = 0

    @classmethod
    def of(cls, options: RunOptions, timing: Timing, *, sending: bool) -> RunWindow:
        return cls(options, timing, sending, window_of(options))

    async def open(self, emit: EventSink, stopped: Callable[[], str]) -> None:
        """Wait for the window (if any) to open; set the calling-hours hold up."""
        if self.window is not None and self.sending:
            self.span = await wait_for_window(
                self.window, self.timing, emit, no_wait=self.options.no_wait, stopped=stopped
            )
        if self.options.outside_calling_hours and self.sending:
            now = self.timing.now()
            deadline = self.span.closes if self.span is not None else None
            if deadline is None:
                deadline = now + timedelta(seconds=self.options.max_wait)
            self.hold = CallingHold(self.timing.now, deadline)

    def watch(self, tg: TaskGroup, control: RunControl, notice: Callable[..., None]) -> None:
        """Stop the run at the window's end (in the session's task group)."""
        window, span = self.window, self.span
        if window is None or span is None:
            return

        def close() -> None:
            if control.stopping:
                return
            self.closed = True
            control.stop(closed_reason(window, span), abort=False)
            notice(
                "warning",
                f"{closed_reason(window, span)}: no new row starts; the rows in flight finish "
                "and any campaign they paused is resumed",
                "window_closed",
            )

        tg.start_soon(close_at_end, span, self.timing, close)

    def note(self, result: RowResult) -> None:
        if result.outcome is Outcome.UPDATED:
            self.writes += 1
            self.active += result.campaign_status == "active"

    def left_for_later(self, outcomes: Mapping[str, int]) -> bool:
        """Rows are left for ``resume`` by the window's end or by calling hours (exit 75)."""
        held = self.hold is not None and self.hold.left > 0
        return (self.closed or held) and outcomes.get(Outcome.NOT_ATTEMPTED.value, 0) > 0

    def first_estimate(self, rows: int, done: int = 0) -> str:
        return estimate_line(
            max(0, rows - done), self.options, window=self.window, now=self.timing.now()
        )

    def summary_fields(self, mode: str, rows: int, outcomes: Mapping[str, int]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "window": self.options.window,
            "window_closed": self.left_for_later(outcomes),
        }
        if self.hold is not None:
            fields["calling_hours"] = {"waited": self.hold.waited, "left": self.hold.left}
        if mode == "plan":
            pausing = self.options.pause_active
            fields["estimate"] = estimate_line(
                rows,
                self.options,
                window=self.window,
                now=self.timing.now(),
                writes=self.writes,
                active=self.active if pausing else 0,
            )
        return fields
