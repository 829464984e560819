"""The library calls of the approved plan: write one (``plan --out``), apply one (``run --plan``).

    summary = await plan_to_dir_async("changes.csv", "plans/2026-11-30", options=options)
    # ... a reviewer opens plans/2026-11-30/plan.html and approves digest sha256:...
    summary = await apply_plan_async(
        "plans/2026-11-30", approved_by="asha.rao", approved_digest="sha256:..."
    )

See ``planfile.py`` for what a plan directory holds and ``approval.py`` for what "exactly as
approved" checks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import SheetError, UsageError
from bulkpatch.core.events import EventSink, Notice, RunFinished, ignore
from bulkpatch.core.loop import sync
from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary, command
from bulkpatch.core.timing import REAL, Timing
from bulkpatch.engine.approval import MAKE_NEW_PLAN, plan_options
from bulkpatch.engine.canary import CANARY_RULE as CANARY_RULE
from bulkpatch.engine.planfile import (
    NO_APPROVED_DIGEST as NO_APPROVED_DIGEST,
)
from bulkpatch.engine.planfile import (
    PlanCollector,
    load_plan,
    prepare_plan_dir,
    write_plan_dir,
)
from bulkpatch.ops.apply import apply_sheet_async, plan_sheet_async
from bulkpatch.sheet import file_sha256


async def plan_to_dir_async(
    sheet: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    options: RunOptions | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Plan ``sheet`` (as :func:`bulkpatch.plan_sheet_async`) and write the plan directory
    ``out`` for a reviewer.  A plan that was stopped before every row was read (exit 3) writes
    no plan directory: an incomplete plan cannot be approved."""
    target = Path(out)
    prepare_plan_dir(target)
    collector = PlanCollector(on_event)
    summary = await plan_sheet_async(
        sheet,
        options=options,
        on_event=collector,
        stopper=stopper,
        api_key=api_key,
        timing=timing,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    if summary.exit_code == ExitCode.ABORTED:
        on_event(
            Notice(
                "error",
                f"the plan stopped before every row was read, so no plan was written to {target}",
                "plan_incomplete",
            )
        )
        on_event(RunFinished(summary))
        return summary
    data = summary.data
    sheet_info = data["sheet"]
    try:
        plan = write_plan_dir(
            target,
            run_dir=summary.run_dir,
            sheet_copy=Path(sheet_info["copy"]),
            sheet_sha256=str(sheet_info["sha256"]),
            sheet_shown=str(sheet_info["path"]),
            rows=collector.rows,
            options=data["options"],
            counts=data["outcomes"],
            created=str(data["started"]),
        )
    except BaseException:
        on_event(RunFinished(summary))
        raise
    on_event(
        Notice(
            "info",
            f"plan written to {target} (digest {plan['digest']}); once it is approved, apply "
            f"exactly this plan with: {apply_command(target, plan['digest'], options)}",
            "plan_written",
        )
    )
    summary = replace(summary, data={**data, "plan_dir": str(target), "digest": plan["digest"]})
    on_event(RunFinished(summary))
    return summary


def apply_command(plan_dir: Path, digest: str, options: RunOptions | None) -> str:
    """The command that applies the plan in ``plan_dir`` once approved, with the options of the
    plan run that the plan does not hold (the key, the reports' directory, a shared rate)."""
    return command(
        "run",
        "--plan",
        plan_dir,
        "--approved-by",
        "NAME",
        "--approved-digest",
        digest,
        options=options or RunOptions(),
        reach="plan",
    )


async def apply_plan_async(
    plan_dir: str | os.PathLike[str],
    *,
    sheet: str | os.PathLike[str] | None = None,
    given: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
    approved_by: str | None = None,
    approved_digest: str | None = None,
    on_event: EventSink = ignore,
    stopper: Stopper | None = None,
    api_key: str | None = None,
    timing: Timing = REAL,
    tracer_provider: Any = None,
    meter_provider: Any = None,
) -> RunSummary:
    """Apply exactly the plan in ``plan_dir`` (see ``approval.py``).

    ``sheet``, when given, must be the very sheet the plan was made from (same sha256).
    ``overrides`` change how the run goes (rate, concurrency, report directory, key source,
    ``canary``, ``max_errors``, ``skip_invalid``); ``given`` are options the user named, of which
    one that shapes the plan (org, workspace, base URL, ``pause_active``, ...) must equal the
    plan's.  ``approved_digest`` is the digest the reviewer approved: the plan is applied only if
    its digest, computed from its files, is that one (else :class:`UsageError`, nothing sent).
    """
    where = Path(plan_dir)
    if approved_digest is None:
        raise UsageError(NO_APPROVED_DIGEST)
    plan = load_plan(where, approved=approved_digest)
    if sheet is not None:
        try:
            sha = file_sha256(sheet)
        except (OSError, SheetError) as exc:
            raise UsageError(f"cannot read {sheet}: {exc}") from None
        if sha != plan.sheet_sha256:
            raise UsageError(
                f"{sheet} is not the sheet the plan in {where} was made from (its sha256 "
                f"differs); nothing was sent. Apply the plan without SHEET (it holds its own "
                f"copy), or {MAKE_NEW_PLAN}"
            )
    extra = dict(overrides or {})
    extra.update(plan_dir=where, approved_by=approved_by, approved_digest=plan.approved)
    options = plan_options(plan, given=dict(given or {}), overrides=extra)
    if options.no_read:
        raise UsageError("--no-read cannot apply a plan: each campaign must be read to be checked")
    return await apply_sheet_async(
        plan.sheet,
        options=options,
        on_event=on_event,
        stopper=stopper,
        api_key=api_key,
        timing=timing,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )


def plan_to_dir(
    sheet: str | os.PathLike[str], out: str | os.PathLike[str], **kwargs: Any
) -> RunSummary:
    """:func:`plan_to_dir_async` in an event loop of its own."""
    return sync(plan_to_dir_async, sheet, out, **kwargs)


def apply_plan(plan_dir: str | os.PathLike[str], **kwargs: Any) -> RunSummary:
    """:func:`apply_plan_async` in an event loop of its own."""
    return sync(apply_plan_async, plan_dir, **kwargs)
