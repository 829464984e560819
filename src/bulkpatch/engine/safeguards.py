"""What a run checks beyond the planner: an approved plan, a canary, an error budget.

A session asks its :class:`Safeguards` three things:

* :meth:`~Safeguards.gate` -- after a row is planned, before anything is sent: may it go as
  planned?  It returns the plan (perhaps turned :class:`~bulkpatch.engine.planner.Stale` by the
  approved plan, see ``approval.py``), or ``None`` when the row must not start now (the canary
  stopped the run; the row is ``not_attempted`` and ``resume`` takes it up);
* :meth:`~Safeguards.finished` -- after a row ended: the canary and the error budget count it
  (and may stop the run);
* :attr:`~Safeguards.canary_held` / :meth:`~Safeguards.summary_fields` -- at the end.

A run without ``--plan``, ``--canary`` or ``--max-errors`` gets inert safeguards.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import StorageError, UsageError
from bulkpatch.core.events import EventSink, Notice
from bulkpatch.core.maxerrors import ErrorBudget, parse_max_errors
from bulkpatch.core.options import RunOptions
from bulkpatch.core.results import RowResult
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.engine.approval import Approval
from bulkpatch.engine.canary import Canary
from bulkpatch.engine.executor import RunControl
from bulkpatch.engine.planfile import NO_APPROVED_DIGEST, LoadedPlan, load_plan
from bulkpatch.engine.planner import RowPlan
from bulkpatch.rundir.journal import iter_records
from bulkpatch.rundir.names import (
    APPROVED_PLAN_JSON,
    APPROVED_PLAN_ROWS,
    JOURNAL,
    PLAN_JSON,
    PLAN_ROWS,
    RETRY_STEM,
)
from bulkpatch.transport.retries import Sent

#: The approved plan's files, as a run directory keeps them.


@dataclass(eq=False, kw_only=True)
class Safeguards:
    control: RunControl
    emit: EventSink
    approval: Approval | None = None
    canary: Canary | None = None
    budget: ErrorBudget | None = None
    approved_by: str | None = None
    #: What an earlier session of the run recorded (plan, approval, canary decision).
    _earlier: dict[str, Any] = field(default_factory=dict, init=False)

    @classmethod
    def prepare(
        cls,
        mode: str,
        options: RunOptions,
        *,
        run_dir: Path,
        sheet_sha256: str,
        prior_start: dict[str, Any] | None,
        control: RunControl,
        emit: EventSink,
        retry_name: str = f"{RETRY_STEM}.csv",
    ) -> Safeguards:
        """The safeguards ``options`` ask for.  A new run with ``plan_dir`` checks the plan
        (and that ``sheet_sha256`` is its sheet) and keeps a copy in ``run_dir``; a resumed run
        reads that copy.  Raises :class:`UsageError` for a plan that cannot be applied."""
        if mode == "plan":
            return cls(control=control, emit=emit)
        approval = None
        if options.plan_dir is not None:
            loaded = _approved_plan(options, run_dir, sheet_sha256, prior_start)
            approval = Approval(loaded)
        canary = None
        decided = _canary_decided(run_dir) if prior_start is not None else None
        if options.canary is not None and decided is None:
            canary = Canary(
                options.canary,
                keep_going=options.canary_continue,
                control=control,
                say=lambda level, text, code: emit(Notice(level, text, code)),  # type: ignore[arg-type]
            )
        budget = None
        if options.max_errors is not None:
            budget = ErrorBudget(parse_max_errors(options.max_errors))
        guards = cls(
            control=control,
            emit=emit,
            approval=approval,
            canary=canary,
            budget=budget,
            approved_by=options.approved_by,
        )
        if prior_start is not None:  # what the first session recorded stays in summary.json
            guards._earlier = {
                k: prior_start[k] for k in ("plan", "approved_by") if prior_start.get(k)
            }
            if decided is not None:
                guards._earlier["canary"] = {
                    k: v for k, v in decided.items() if k not in ("e", "t", "ts")
                }
        guards._announce(prior_start is not None)
        return guards

    def _announce(self, resumed: bool) -> None:
        if self.approval is not None:
            by = f", approved by {self.approved_by}" if self.approved_by else ""
            self.emit(
                Notice(
                    "info",
                    f"applying the approved plan {self.approval.plan.path} (digest "
                    f"{self.approval.plan.digest}{by}); a row whose campaign changed since the "
                    "plan is skipped as stale",
                    "approved_plan",
                )
            )
        if self.canary is not None:
            again = " (the run's first session never decided it)" if resumed else ""
            self.emit(
                Notice(
                    "info",
                    f"canary: the first {self.canary.size} rows that write are applied and read "
                    f"back before the rest{again}",
                    "canary",
                )
            )

    # -- the session's questions -----------------------------------------------------------

    def journal_fields(self) -> dict[str, Any]:
        """What the journal's ``start`` line records of the safeguards."""
        fields: dict[str, Any] = {}
        if self.approval is not None:
            fields["plan"] = self.approval.plan.record()
        if self.approved_by is not None:
            fields["approved_by"] = self.approved_by
        return fields

    def bind(
        self, read: Callable[[CampaignKey], Awaitable[Sent]], journal: Callable[..., Any] | None
    ) -> None:
        """The session's reader and journal, once it has them."""
        if self.canary is not None:
            self.canary.bind(read, journal)

    async def gate(self, plan: RowPlan, change: RowChange, *, in_doubt: bool) -> RowPlan | None:
        if self.approval is not None:
            plan = self.approval.check(plan, change, in_doubt=in_doubt)
        if self.canary is not None and not await self.canary.admit(plan, change):
            return None
        return plan

    async def finished(self, result: RowResult) -> None:
        if self.budget is not None:
            why = self.budget.note(result.outcome)
            if why:
                self.control.stop(why, abort=True)
                self.emit(Notice("error", f"stopping: {why}", "max_errors"))
        if self.canary is not None:
            await self.canary.finished(result)

    async def at_end(self) -> None:
        if self.canary is not None:
            await self.canary.at_end()

    @property
    def canary_held(self) -> bool:
        """A canary held and stopped the run as asked (the exit code's ``canary_held``)."""
        return self.canary is not None and self.canary.stopped_here

    def summary_fields(self) -> dict[str, Any]:
        """What summary.json records of the safeguards."""
        fields = {**self.journal_fields(), **self._earlier}
        if self.canary is not None:
            fields["canary"] = self.canary.as_dict()
        if self.budget is not None:
            fields["error_budget"] = self.budget.as_dict()
        return fields


def _approved_plan(
    options: RunOptions, run_dir: Path, sheet_sha256: str, prior_start: dict[str, Any] | None
) -> LoadedPlan:
    plan_dir, approved = options.plan_dir, options.approved_digest
    assert plan_dir is not None
    if prior_start is not None:  # resumed: the run's own copy of the plan
        loaded = load_plan(
            run_dir, approved=approved, plan_json=APPROVED_PLAN_JSON, rows_file=APPROVED_PLAN_ROWS
        )
        recorded = (prior_start.get("plan") or {}).get("digest")
        if recorded != loaded.digest:
            raise UsageError(
                f"{run_dir / APPROVED_PLAN_JSON} is not the plan the run started with (digest); "
                "it cannot be resumed"
            )
        return loaded
    if approved is None:
        raise UsageError(f"{NO_APPROVED_DIGEST}; nothing was sent")
    loaded = load_plan(plan_dir, approved=approved)
    if loaded.sheet_sha256 != sheet_sha256:
        raise UsageError(
            f"the sheet is not the one the plan in {plan_dir} was made from (sha256 differs); "
            "nothing was sent"
        )
    try:
        shutil.copyfile(plan_dir / PLAN_JSON, run_dir / APPROVED_PLAN_JSON)
        shutil.copyfile(plan_dir / PLAN_ROWS, run_dir / APPROVED_PLAN_ROWS)
        for name in (APPROVED_PLAN_JSON, APPROVED_PLAN_ROWS):
            (run_dir / name).chmod(0o600)
    except OSError as exc:
        raise StorageError(
            f"cannot keep a copy of the plan in {run_dir}: {exc.strerror or exc}; nothing was sent"
        ) from None
    return loaded


def _canary_decided(run_dir: Path) -> dict[str, Any] | None:
    """The journal's ``canary`` line, once an earlier session decided the canary."""
    journal = run_dir / JOURNAL
    try:
        for record in iter_records(journal):
            if record is not None and record.get("e") == "canary":
                return dict(record)
    except OSError:
        return None
    return None
