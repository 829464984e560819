"""``run --plan PLAN_DIR``: apply exactly the plan that was approved, or nothing of a row.

Exactly as approved means, for every row:

* the sheet is the plan's own copy, byte for byte (its sha256 is in the digest), run with the
  plan's options (org, workspace, worksheet, base URL, ``--pause-active``);
* the campaign's ``updated_at`` as read now is the one the plan read: a campaign anyone changed
  since is ``skipped`` as stale -- never planned again silently;
* a row that writes writes exactly the plan's ``[path, old, new]`` changes, and only rows the
  plan said would be ``updated`` write at all (a row whose campaign the plan could not read was
  not approved).

:class:`Approval` holds a row to that (:meth:`Approval.check`, pure);
:func:`bulkpatch.ops.plan.apply_plan_async` checks a plan directory and runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bulkpatch.core.errors import UsageError
from bulkpatch.core.options import BINDING_OPTIONS, RunOptions
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.rows import RowChange
from bulkpatch.core.values import same_value
from bulkpatch.engine.planfile import LoadedPlan, PlannedRow, canonical, changes_list
from bulkpatch.engine.planner import BadAnswer, Patch, RowPlan, Stale, Unchanged

MAKE_NEW_PLAN = "make a new plan to apply it"


class Approval:
    """Holds each row of a run to the approved plan."""

    def __init__(self, plan: LoadedPlan) -> None:
        self.plan = plan
        self._rows: Mapping[int, PlannedRow] = plan.rows

    def check(self, plan: RowPlan, change: RowChange, *, in_doubt: bool = False) -> RowPlan:
        """``plan`` when the row may go as planned now, else a :class:`Stale` plan saying why.

        ``in_doubt``: an earlier session of this run sent the row's PATCH and never learnt the
        answer; finding the change in place (our own write moved ``updated_at``) is then fine.
        """
        if isinstance(plan, BadAnswer):
            return plan
        approved = self._rows.get(change.row)
        if approved is None or approved.campaign != str(change.key):
            return _stale(plan, f"this row is not in the approved plan; {MAKE_NEW_PLAN}")
        if in_doubt and isinstance(plan, Unchanged):
            return plan
        if approved.updated_at is None:
            if isinstance(plan, Patch):
                return _stale(
                    plan,
                    f"the plan could not read this campaign (it was {approved.outcome} there), so "
                    f"no change to it was approved; {MAKE_NEW_PLAN}",
                )
            return plan
        if plan.updated_at is None or not same_value(
            "updated_at", plan.updated_at, approved.updated_at
        ):
            return _stale(
                plan,
                f"the campaign changed since the plan was approved (updated_at "
                f"{approved.updated_at} -> {plan.updated_at}); {MAKE_NEW_PLAN}",
            )
        if isinstance(plan, Patch) and (
            approved.outcome != Outcome.UPDATED.value
            or canonical(changes_list(plan.changes)) != approved.changes
        ):
            return _stale(plan, f"its changes now differ from the approved plan; {MAKE_NEW_PLAN}")
        return plan


def _stale(plan: RowPlan, why: str) -> Stale:
    return Stale(
        mismatches=(why,), status=plan.status, updated_at=plan.updated_at, changes=plan.changes
    )


def plan_options(
    plan: LoadedPlan, *, given: Mapping[str, Any], overrides: Mapping[str, Any]
) -> RunOptions:
    """The run's options: the plan's, with ``overrides`` (pacing, report directory, key source,
    canary, error budget) on top.  ``given`` are options the user named on the command line:
    one that shapes the plan and differs from the plan's is refused."""
    stored = plan.options
    for name, value in given.items():
        if name not in BINDING_OPTIONS:
            continue
        mine = RunOptions.from_journal({name: value}) if value is not None else None
        wanted = getattr(mine, name) if mine is not None else None
        theirs = getattr(RunOptions.from_journal(stored), name)
        if name == "base_url" and isinstance(wanted, str) and isinstance(theirs, str):
            wanted, theirs = wanted.rstrip("/"), theirs.rstrip("/")
        if wanted != theirs:
            flag = "--" + name.replace("_", "-").replace("fmt", "format")
            raise UsageError(
                f"{flag} {value!r} differs from the plan's ({theirs!r}); `run --plan` applies the "
                f"plan with its own options. Drop {flag}, or make a new plan with it"
            )
    try:
        return RunOptions.from_journal(stored, **overrides)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{plan.path}: {exc}") from None
