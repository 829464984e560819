"""``run --canary N``: apply the first N rows that write, read them back, say what changed, stop.

The first N rows whose plan writes (a PATCH, or pause/PATCH/resume) are let through; a row that
would write after them waits until the canary is decided.  Once the N rows finished, each is
read back: it *held* when it ended ``updated`` and the campaign now holds every value the row
set.  Then:

* every row held, no ``--canary-continue``: the run stops (not aborted), the rest of the sheet
  ``not_attempted``; :data:`CANARY_RULE` says how it ends (``canary_held`` of
  :func:`bulkpatch.core.summary.exit_code_for`) and which
  one command applies the rest (the run's next step for its ``not_attempted`` rows: ``bulkpatch
  resume RUN_DIR``, which does not stop again; after ``--simulate``, the run's retry file);
* every row held, ``--canary-continue``: the waiting rows go on, and the run with them;
* a row did not hold: the run stops as aborted (exit 3, resumable).

The canary's notices name no command: the command for the rest is printed once, with the run's
next steps.

A sheet with fewer than N rows that write is a canary as a whole: its rows are read back at the
end.  If the run stops for another reason first (a refused key, Ctrl-C), the canary is left
undecided, and the run's ``resume`` starts it again.  The decision is journaled (a ``canary``
line), so a resumed run knows the canary is behind it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import FieldChange, RowResult
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.core.rules import CANARY_RULE as CANARY_RULE
from bulkpatch.core.text import printable, shorten
from bulkpatch.core.values import MISSING, get_path, holds, plain, same_value
from bulkpatch.engine.executor import RunControl
from bulkpatch.engine.planner import Patch, RowPlan, other_campaign
from bulkpatch.engine.recorder import describe_changes, show_value
from bulkpatch.transport.retries import Sent

#: How often a row waiting for the canary's decision looks whether the run is stopping.
WAIT_POLL = 0.25
#: Canary rows read back at once.
READ_BACK_AT_ONCE = 8


#: Where a canary's notice points for the command that applies the rest.
REST_BELOW = "the next steps at the end give the command for the rest"

Reader = Callable[[CampaignKey], Awaitable[Sent]]
Say = Callable[[str, str, str], None]


def drift(current: Mapping[str, Any], changes: Mapping[str, Any]) -> list[str]:
    """``path: expected -> now`` for each value the campaign does not hold."""
    out: list[str] = []
    for path, target in changes.items():
        now = get_path(current, path)
        if not same_value(path, now, target):
            shown_now = "(absent)" if now is MISSING else show_value(plain(now), 60)
            out.append(f"{path}: {show_value(target, 60)} -> {shown_now}")
    return out


@dataclass
class CanaryRow:
    change: RowChange
    changes: tuple[FieldChange, ...]
    result: RowResult | None = None
    held: bool = False
    check: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.change.row,
            "campaign": str(self.change.key),
            "outcome": self.result.outcome.value if self.result else None,
            "held": self.held,
            "check": self.check,
            "changes": describe_changes(self.changes),
        }


@dataclass(eq=False)
class Canary:
    size: int
    keep_going: bool = field(kw_only=True)
    control: RunControl = field(kw_only=True)
    say: Say = field(kw_only=True)
    rows: dict[int, CanaryRow] = field(default_factory=dict, init=False)
    decided: anyio.Event = field(default_factory=anyio.Event, init=False)
    held: bool | None = field(default=None, init=False)
    #: The canary held and the run stopped as asked (exit 0).
    stopped_here: bool = field(default=False, init=False)
    #: held / continued / stopped / failed, once decided.
    decision: str | None = field(default=None, init=False)
    _deciding: bool = field(default=False, init=False)
    _read: Reader | None = field(default=None, init=False)
    _journal: Callable[..., Any] | None = field(default=None, init=False)

    def bind(self, read: Reader, journal: Callable[..., Any] | None) -> None:
        self._read = read
        self._journal = journal

    async def admit(self, plan: RowPlan, change: RowChange) -> bool:
        """Whether this row may be carried out now (it may wait for the decision first)."""
        if not isinstance(plan, Patch):
            return True
        while True:
            if self.decided.is_set():
                return bool(self.held) and self.keep_going and not self.control.stopping
            if self.control.stopping:
                return False
            if len(self.rows) < self.size:
                self.rows[change.row] = CanaryRow(change, plan.changes)
                return True
            with anyio.move_on_after(WAIT_POLL):
                await self.decided.wait()

    async def finished(self, result: RowResult) -> None:
        row = self.rows.get(result.row)
        if row is None or row.result is not None:
            return
        row.result = result
        if len(self.rows) >= self.size and all(r.result is not None for r in self.rows.values()):
            await self.decide()

    async def at_end(self) -> None:
        """The run is through the sheet: a canary that never filled is decided now."""
        if self.rows and not self.decided.is_set() and not self.control.stopping:
            await self.decide(whole_sheet=True)

    async def decide(self, *, whole_sheet: bool = False) -> None:
        if self._deciding or self.decided.is_set():
            return
        if self.control.stopping:  # stopped for another reason: the canary stays undecided
            return
        self._deciding = True
        try:
            await self._read_back()
        finally:
            self._conclude(whole_sheet)
            self.decided.set()

    async def _read_back(self) -> None:
        limiter = anyio.CapacityLimiter(READ_BACK_AT_ONCE)

        async def one(row: CanaryRow) -> None:
            async with limiter:
                await self._check(row)

        async with anyio.create_task_group() as tg:
            for row in self.rows.values():
                tg.start_soon(one, row)

    async def _check(self, row: CanaryRow) -> None:
        result = row.result
        if result is None or result.outcome is not Outcome.UPDATED:
            what = result.outcome.value if result is not None else "not finished"
            why = f": {result.reason}" if result is not None and result.reason else ""
            row.check = printable(f"{what}{why}")
            return
        assert self._read is not None
        got = await self._read(row.change.key)
        data = got.reply.data
        if not got.reply.ok or not isinstance(data, Mapping):
            row.check = f"could not read it back: {got.reply.describe()}"
            return
        wrong = other_campaign(data, row.change.key)
        if wrong:
            row.check = f"could not read it back: {wrong}"
            return
        if holds(data, row.change.changes):
            row.held = True
            row.check = "holds"
            return
        row.check = "drifted: " + "; ".join(drift(data, row.change.changes))

    def _conclude(self, whole_sheet: bool) -> None:
        rows = sorted(self.rows.values(), key=lambda r: r.change.row)
        held = bool(rows) and all(r.held for r in rows)
        self.held = held
        for r in rows:
            level = "info" if r.held else "error"
            text = f"canary row {r.change.row} {r.change.key}: {r.check}" + (
                f" — {describe_changes(r.changes)}" if r.changes else ""
            )
            self.say(level, shorten(text, 600), "canary_row")
        n = len(rows)
        decision: str
        if not held:
            bad = [r for r in rows if not r.held]
            first = bad[0]
            reason = (
                f"canary: {len(bad)} of {n} rows did not hold (row {first.change.row}: "
                f"{shorten(first.check, 200)}); look at them before going on"
            )
            self.control.stop(reason, abort=True)
            self.say("error", f"{reason}; {REST_BELOW}", "canary_failed")
            decision = "failed"
        elif whole_sheet:
            self.say("info", f"canary: all {n} rows that wrote read back as set", "canary_held")
            decision = "held"
        elif self.keep_going:
            self.say(
                "info",
                f"canary: the first {n} rows that write read back as set; going on "
                "(--canary-continue)",
                "canary_held",
            )
            decision = "continued"
        else:
            self.stopped_here = True
            self.control.stop(
                f"canary: the first {n} rows that write were applied and read back as set; the "
                "run stops here as asked (--canary)",
                abort=False,
            )
            self.say(
                "info",
                f"canary: the first {n} rows that write read back as set; the run stops here. "
                f"Look at them; {REST_BELOW}",
                "canary_stopped",
            )
            decision = "stopped"
        if self._journal is not None:
            self._journal(
                "canary",
                decision=decision,
                held=held,
                rows=[{k: v for k, v in r.as_dict().items() if k != "changes"} for r in rows],
            )
        self.decision = decision

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "continue": self.keep_going,
            "decision": self.decision,
            "held": self.held,
            "rows": [r.as_dict() for r in sorted(self.rows.values(), key=lambda r: r.change.row)],
        }
