"""A session's end as data: its exit code, its next steps and the content of ``summary.json``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.summary import (
    NextStep,
    ReasonGroup,
    exit_code_for,
    next_steps,
    summary_content,
)
from bulkpatch.engine.executor import RunControl
from bulkpatch.engine.stats import RunStats
from bulkpatch.rundir.names import PLAN_HTML, REPORT_HTML
from bulkpatch.transport.client import Lane


def summary_data(
    *,
    mode: str,
    sheet: Mapping[str, str],
    run_dir: Path,
    started: datetime,
    stats: RunStats,
    options: RunOptions,
    lanes: Sequence[Lane],
    shard: str | None,
    control: RunControl,
    earlier: Mapping[str, str],
    steps: Sequence[NextStep],
    code: int,
) -> dict[str, Any]:
    """The content of ``summary.json``: counts, rates, what is left to do (never a key)."""
    first = lanes[0] if lanes else None
    measured = stats.as_dict()
    measured.pop("outcomes")
    rows = measured.pop("rows")
    fields = {
        "sheet": dict(sheet),
        "run_dir": str(run_dir),
        "report": str(run_dir / (PLAN_HTML if mode == "plan" else REPORT_HTML)),
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        **measured,
        "target_rate": options.rate,
        "final_rate": first.pacer.current_rate if first is not None else options.rate,
        "rate_cuts": sum(lane.pacer.throttle_events for lane in lanes),
        "pacer_slack_ms": {
            "last": round(first.pacer.slack * 1000, 1) if first is not None else None,
            "widest": round(max(lane.pacer.widest_slack for lane in lanes) * 1000, 1)
            if lanes
            else None,
        },
        "breaker": {
            "openings": sum(lane.breaker.openings for lane in lanes),
            "paused_seconds": round(sum(lane.breaker.paused_seconds for lane in lanes), 3),
        },
        "shard": shard,
        "keys_refused": dict(control.refused_keys),
        "campaigns_left_paused": {str(k): why for k, (_, why) in control.left_paused.items()},
        "campaigns_paused_by_earlier_runs": dict(earlier),
        "stop_reason": control.stop_reason or None,
        "options": options.for_journal(),
    }
    return summary_content(mode, stats.outcomes, steps, code, rows=rows, fields=fields)


def closing_summary(
    *,
    mode: str,
    options: RunOptions,
    stats: RunStats,
    control: RunControl,
    safeguards: Any,
    groups: Mapping[ReasonGroup, int],
    run_dir: Path,
    sheet: Mapping[str, str],
    retry_name: str,
    started: datetime,
    lanes: Sequence[Lane],
    shard: str | None,
    earlier: Mapping[str, str],
    window_closed: bool = False,
) -> tuple[ExitCode, list[NextStep], dict[str, Any]]:
    """What a session comes to: its exit code (a canary that held and stopped the run may
    make it 0), its next steps, and the content of ``summary.json``."""
    code = exit_code_for(
        stats.outcomes,
        aborted=control.aborted,
        left_paused=len(control.left_paused),
        canary_held=safeguards.canary_held,
        window_closed=window_closed,
    )
    steps = next_steps(
        groups,
        run_dir,
        retry_name=retry_name,
        simulated=options.simulate,
        resumable=mode != "plan",
        mode=mode,
        sheet=Path(sheet["path"]),
        options=options,
    )
    data = summary_data(
        mode=mode,
        sheet=sheet,
        run_dir=run_dir,
        started=started,
        stats=stats,
        options=options,
        lanes=lanes,
        shard=shard,
        control=control,
        earlier=earlier,
        steps=steps,
        code=int(code),
    )
    data.update(safeguards.summary_fields())
    return code, steps, data
