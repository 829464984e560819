"""What stops a session, or a part of it, and what the session says when it does.

:class:`Stops` holds the session's reactions, handed as callbacks to the journal, the client and
the lanes:

* a report file that cannot be written: the run stops (once), and fails at its end;
* the API given up on after ``--max-outage``, or the rate store failing: the run stops;
* a key the API refused: with several keys only its rows stop (the run ends with exit 3), with
  one the run stops; the rows its 403s rejected become ``not_attempted``;

and after the last row, the campaigns this run paused that are still paused: named at once when
their key was refused (nothing more can be sent with it), else tried again for up to
``--max-outage``, and the rows that left them paused amended once they are resumed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio

from bulkpatch.core.errors import StorageError
from bulkpatch.core.rows import CampaignKey
from bulkpatch.engine.amends import Amends
from bulkpatch.engine.executor import Executor, RunControl
from bulkpatch.engine.keyrefusal import ForbiddenRows
from bulkpatch.engine.recorder import Recorder
from bulkpatch.engine.stats import RunStats
from bulkpatch.engine.target import Lanes
from bulkpatch.rundir.journal import JournalWriter
from bulkpatch.transport.client import Lane

Notice = Callable[..., None]


class Stops:
    def __init__(
        self, control: RunControl, *, notice: Notice, amends: Amends, stats: RunStats
    ) -> None:
        self.control = control
        self._notice = notice
        self._amends = amends
        self._stats = stats
        self.forbidden = ForbiddenRows()
        #: Why a report file could not be written during the run ("" while all is well).
        self.storage_failure = ""
        self.lanes: Lanes | None = None
        self.journal: JournalWriter | None = None
        self.recorder: Recorder | None = None

    def journal_failed(self, why: str) -> None:
        self.control.stop(why)
        self._notice("error", f"stopping: {why}", "storage")

    def stop_storing(self, error: StorageError) -> None:
        """A report file cannot be written: stop the run (once), and fail at its end."""
        if not self.storage_failure:
            self.storage_failure = str(error)
            self.journal_failed(self.storage_failure)

    def gave_up(self, reason: str) -> None:
        self.control.stop(reason)
        self._notice("error", f"stopping: {reason}", "outage")

    def store_failed(self, why: str) -> None:
        if not self.control.stopping:
            self.control.stop(f"{why}; `bulkpatch resume` the run directory once it is back")
            self._notice("error", f"stopping: {why}", "rate_store")

    def key_refused(self, lane: Lane, why: str) -> None:
        if self.recorder is not None:
            self.forbidden.key_refused(
                lane, self._amends, journal=self.journal, stats=self._stats, recorder=self.recorder
            )
        control = self.control
        control.refused_keys[lane.label] = why
        if self.lanes is not None and self.lanes.several:
            # Only this key's rows stop; the other orgs go on.  The run ends with exit 3.
            control.aborted = True
            self._notice(
                "error",
                f"the API refused {lane.label} ({why}): its rows are not_attempted; the other "
                "orgs go on. Fix that key, then `bulkpatch resume` the run directory",
                "key_refused",
            )
            return
        control.stop(
            f"the API refused {lane.label} ({why}); fix the key, then run `bulkpatch resume` "
            "on the run directory"
        )
        self._notice("error", f"stopping: the API refused {lane.label} ({why})", "key_refused")

    def refusal(self, key: CampaignKey) -> str:
        """Why nothing more can be sent for ``key``'s org ("" when it can)."""
        return self.lanes.refusal(key.org_id) if self.lanes is not None else ""

    async def after_rows(
        self, executor: Executor, *, within: float, interrupted: anyio.Event
    ) -> None:
        """The campaigns this run paused that are still paused after the last row: named at
        once when their key was refused, else tried again for up to ``within`` seconds (until
        the run is interrupted); the rows of those resumed are amended."""
        control = self.control
        if not control.left_paused or interrupted.is_set():
            return
        was_paused = set(control.left_paused)
        # A refused key can send nothing more: waiting would only delay saying so.
        for refusal, count in control.give_up_refused(self.refusal).items():
            self._notice(
                "error",
                f"{count} campaign(s) this run paused stay paused: {refusal}. Resume them by "
                "hand, or fix the key and `bulkpatch resume` the run directory",
                "left_paused_key_refused",
            )
        left = {k: row for k, (row, _) in control.left_paused.items() if not self.refusal(k)}
        if left:
            self._notice(
                "warning",
                f"{len(left)} campaign(s) this run paused are still paused; trying to resume "
                f"them for up to {within:g} s (--max-outage)",
                "resuming_left_paused",
            )
            await executor.resume_left_paused(
                left, within=within, refused=self.refusal, give_up=interrupted.is_set
            )
        recorder: Any = self.recorder
        self._amends.resumed(
            was_paused - set(control.left_paused),
            journal=self.journal,
            stats=self._stats,
            recorder=recorder,
        )
