"""``--outside-calling-hours``: pause an active campaign only while it dials nothing.

An active campaign inside its own calling hours (its ``allowed_schedule`` as just read, judged
at the moment of the pause: :func:`~bulkpatch.core.windows.calling_state`) is not paused: its
row waits for those hours to end -- a :class:`~bulkpatch.engine.pool.Deferred`, redone then with
a fresh GET -- when they end before the run's deadline (its window's end; without a window, the
start plus ``--max-wait``); otherwise it is left for ``resume``: ``not_attempted``, with a reason
saying until when it calls.  A campaign with no calling hours calls at all hours: it is always
inside them, and its row says so.  Nothing but the GET is sent for a row held here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bulkpatch.core.results import RowResult, not_attempted
from bulkpatch.core.windows import calling_state
from bulkpatch.engine.pool import Deferred, Job

#: A row comes back this long after its campaign's calling hours end (seconds): the API's
#: clock and ours may differ a little, and a dialler may finish its last call.
MARGIN = 60.0
#: Where a reason of a row left inside its calling hours starts (``core/summary.py`` groups
#: the rows by what follows: until when).
CALLING_PREFIX = "campaign is active and "
ALWAYS_CALLING = (
    "campaign is active and has no calling hours: it calls at all hours, so it is always "
    "inside them; not paused (--outside-calling-hours)"
)


@dataclass
class CallingHold:
    """Decides, for a row about to pause an active campaign, whether it waits."""

    now: Callable[[], datetime]
    #: Waiting must end before this instant (None: no row waits).
    deadline: datetime | None = None
    #: Rows deferred (each time), and rows left for ``resume``.
    waited: int = 0
    left: int = 0

    def __call__(self, job: Job, current: Mapping[str, Any]) -> RowResult | Deferred | None:
        """None when the campaign may be paused now; else the row's deferral or its result."""
        now = self.now()
        state = calling_state(current.get("allowed_schedule"), now)
        if not state.inside:
            return None
        change = job.change
        if state.until is None:
            self.left += 1
            return not_attempted(change.row, change.key, ALWAYS_CALLING)
        result = not_attempted(change.row, change.key, f"{CALLING_PREFIX}{state.why}; resume after")
        back = (state.until - now).total_seconds() + MARGIN
        if self.deadline is not None and (self.deadline - now).total_seconds() > back:
            self.waited += 1
            return Deferred(job, back, result)
        self.left += 1
        return result
