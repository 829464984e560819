"""A row's one outcome: built by one pure function from the plan and what happened.

:func:`row_result` is the only place that decides a row's outcome and reason from a
:class:`~bulkpatch.engine.planner.RowPlan` and an :class:`~bulkpatch.engine.executor.Execution` (or
the failed
read that left no plan).  :func:`result_record` is the report row of a result, which is also the
journal's ``done`` line; :func:`result_from_record` reads it back for ``resume``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.core.text import cap, printable
from bulkpatch.engine.executor import Execution
from bulkpatch.engine.planner import (
    BadAnswer,
    FieldChange,
    Invalid,
    Patch,
    PausePatchResume,
    RowPlan,
    Skip,
    Stale,
    Unchanged,
)
from bulkpatch.transport.replies import Kind, Reply
from bulkpatch.transport.retries import Sent

CONFIRMED_ON_RESUME = (
    "confirmed by reading back: the change sent before the interruption is in place"
)
LEFT_PAUSED_NOTE = "it is LEFT PAUSED — `bulkpatch resume` on the run directory resumes it"
#: The API's status and updated_at are short; a longer one is cut to this many characters.
STAMP_LIMIT = 200
RESUMED_LATER_NOTE = "the campaign, left paused at first, was resumed later"
_APPLIED_BUT = "the update was applied, but "
_RESUME_FAILED = "resuming the campaign failed "
_UNSURE_RESUME_FAILED = ", and resuming it failed "


@dataclass(frozen=True, slots=True)
class RowResult:
    """A row's one outcome, and what the report says of it."""

    row: int
    key: CampaignKey | None
    outcome: Outcome
    reason: str = ""
    http_status: int | None = None
    attempts: int = 0
    changed_fields: tuple[str, ...] = ()
    campaign_status: str | None = None
    updated_at: str | None = None
    duration_ms: int = 0
    #: Values before the change, per changed path (journal only; undo data).
    before: dict[str, Any] = field(default_factory=dict)
    #: Per changed path, the value read and the target (plan only).
    changes: tuple[FieldChange, ...] = ()
    #: False when a PATCH may have landed and nobody could tell: no ``done`` line is written,
    #: so that ``resume`` reads the campaign back before anything else.
    settled: bool = True


def _reason(text: str) -> str:
    return cap(printable(text))


def _summary_fields(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, Any] = {}
    for name in ("status", "updated_at"):
        value = data.get(name)
        if value is not None:
            out["campaign_status" if name == "status" else name] = str(value)
    return out


def refused(
    row: int,
    key: CampaignKey,
    reply: Reply,
    *,
    what: str,
    attempts: int = 0,
    stop_reason: str = "",
) -> RowResult:
    """The outcome of a request that did not succeed."""
    kind = reply.kind
    if kind is Kind.STOPPED or (stop_reason and (kind.retryable or kind is Kind.UNKNOWN)):
        why = stop_reason or reply.message.removeprefix("not sent: ")
        return RowResult(
            row,
            key,
            Outcome.NOT_ATTEMPTED,
            _reason(f"{what}: run stopped: {why}" if stop_reason else f"{what}: not sent: {why}"),
            attempts=attempts,
        )
    if kind is Kind.AUTH:
        outcome, message = Outcome.NOT_ATTEMPTED, f"API key refused ({reply.describe()})"
    elif kind is Kind.FORBIDDEN:
        outcome, message = Outcome.REJECTED, f"forbidden ({reply.describe()})"
    elif kind is Kind.NOT_FOUND:
        outcome, message = Outcome.REJECTED, f"campaign not found ({reply.describe()})"
    elif kind is Kind.REJECTED:
        outcome, message = Outcome.REJECTED, reply.message or reply.describe()
    else:  # throttled, transient or unknown that outlasted the attempts
        outcome, message = Outcome.FAILED, f"{reply.describe()} (gave up after retries)"
    return RowResult(
        row,
        key,
        outcome,
        _reason(f"{what}: {message}"),
        http_status=reply.status,
        attempts=attempts,
    )


def read_failed(change: RowChange, read: Sent, *, stop_reason: str = "") -> RowResult:
    """The outcome of a row whose campaign could not be read."""
    return refused(change.row, change.key, read.reply, what="GET", stop_reason=stop_reason)


def row_result(
    change: RowChange,
    plan: RowPlan,
    execution: Execution | None,
    *,
    in_doubt: bool = False,
    stop_reason: str = "",
) -> RowResult:
    """The row's outcome from its plan and, when it was carried out, what happened.

    ``execution`` is None in ``plan`` mode: the outcome is the one the row would get.
    ``in_doubt``: an earlier session sent this row's PATCH and never learnt the answer.
    """
    if execution is not None and isinstance(plan, Patch):  # the common case first
        if isinstance(plan, PausePatchResume):
            return _paused_result(change, plan, execution, stop_reason=stop_reason)
        assert execution.patch is not None
        return _patch_result(change, plan, execution.patch, stop_reason=stop_reason)
    row, key = change.row, change.key
    seen: dict[str, Any] = {"campaign_status": plan.status, "updated_at": plan.updated_at}
    fields = plan.changed_fields
    if isinstance(plan, BadAnswer):
        return RowResult(row, key, Outcome.FAILED, _reason(plan.reason))
    if isinstance(plan, Invalid):
        return RowResult(
            row,
            key,
            Outcome.INVALID,
            _reason("; ".join(plan.reasons)),
            changes=plan.changes,
            **seen,
        )
    if isinstance(plan, Stale):
        reason = "stale: " + "; ".join(plan.mismatches)
        return RowResult(row, key, Outcome.SKIPPED, _reason(reason), changes=plan.changes, **seen)
    if isinstance(plan, Unchanged):
        if in_doubt:
            return RowResult(
                row,
                key,
                Outcome.UPDATED,
                CONFIRMED_ON_RESUME,
                changed_fields=tuple(change.changes),
                **seen,
            )
        return RowResult(
            row, key, Outcome.UNCHANGED, "campaign already holds every target value", **seen
        )
    if isinstance(plan, Skip):
        return RowResult(
            row,
            key,
            Outcome.SKIPPED,
            _reason(plan.reason),
            changed_fields=fields,
            changes=plan.changes,
            **seen,
        )
    assert isinstance(plan, Patch)
    assert execution is None  # plan mode: the outcome the row would get
    how = "would pause, update, resume" if isinstance(plan, PausePatchResume) else ""
    return RowResult(
        row, key, Outcome.UPDATED, how, changed_fields=fields, changes=plan.changes, **seen
    )


def _patch_result(change: RowChange, plan: Patch, sent: Sent, *, stop_reason: str) -> RowResult:
    row, key = change.row, change.key
    fields = plan.changed_fields
    reply = sent.reply
    if sent.confirmed:
        assert sent.unclear is not None
        return RowResult(
            row,
            key,
            Outcome.UPDATED,
            _reason(f"confirmed by reading back after: {sent.unclear.describe()}"),
            http_status=reply.status,
            attempts=sent.sent,
            changed_fields=fields,
            before=plan.before,
            **_summary_fields(reply.data),
        )
    if reply.ok:
        return RowResult(
            row,
            key,
            Outcome.UPDATED,
            http_status=reply.status,
            attempts=sent.sent,
            changed_fields=fields,
            before=plan.before,
            **_summary_fields(reply.data),
        )
    if sent.unsettled:
        # The PATCH may have landed and nobody can tell: the row stays "sent" without "done"
        # in the journal, so that resume reads it back first.
        assert sent.unclear is not None
        what = f"PATCH outcome unknown ({sent.unclear.describe()}); reading it back"
        result = refused(row, key, reply, what=what, attempts=sent.sent, stop_reason=stop_reason)
        if result.outcome is Outcome.REJECTED:
            result = replace(result, outcome=Outcome.FAILED)
        return replace(result, before=plan.before, changed_fields=fields, settled=False)
    result = refused(row, key, reply, what="PATCH", attempts=sent.sent, stop_reason=stop_reason)
    return replace(result, changed_fields=fields)


def _paused_result(
    change: RowChange, plan: Patch, execution: Execution, *, stop_reason: str
) -> RowResult:
    row, key = change.row, change.key
    pause = execution.pause
    assert pause is not None
    if pause.reached is not True:
        result = refused(
            row, key, pause.reply, what="pausing the active campaign", stop_reason=stop_reason
        )
        result = replace(result, changed_fields=plan.changed_fields)
        if pause.reached is False:
            return replace(result, campaign_status="active")
        if result.outcome is Outcome.REJECTED:
            result = replace(result, outcome=Outcome.FAILED)
        reason = f"{result.reason}; could not tell whether the campaign was paused"
        if execution.left_paused:
            reason += f"{_UNSURE_RESUME_FAILED}({execution.left_paused}): it may be LEFT PAUSED"
        return replace(result, reason=_reason(reason))
    if execution.patch is None:
        result = RowResult(
            row,
            key,
            Outcome.NOT_ATTEMPTED,
            "paused, then the run stopped before the update",
            changed_fields=plan.changed_fields,
        )
    else:
        result = _patch_result(change, plan, execution.patch, stop_reason=stop_reason)
    if not execution.left_paused:
        return replace(result, campaign_status="scheduled")
    outcome = Outcome.FAILED if result.outcome is Outcome.UPDATED else result.outcome
    note = _APPLIED_BUT if result.outcome is Outcome.UPDATED else ""
    reason = (
        f"{result.reason}; " if result.reason else ""
    ) + f"{note}{_RESUME_FAILED}({execution.left_paused}); {LEFT_PAUSED_NOTE}"
    return replace(result, outcome=outcome, reason=_reason(reason), campaign_status="paused")


def resumed_later(result: RowResult) -> RowResult:
    """A finished row whose campaign was left paused, now that a later session resumed it.

    The row keeps its outcome -- except that an update applied before the resume failed is now
    simply ``updated`` -- and its reason no longer says LEFT PAUSED (nor sends anyone to resume).
    """
    reason = result.reason
    if "LEFT PAUSED" not in reason:
        return result
    applied = result.outcome is Outcome.FAILED and _APPLIED_BUT + _RESUME_FAILED in reason
    for marker in (_APPLIED_BUT + _RESUME_FAILED, _RESUME_FAILED, _UNSURE_RESUME_FAILED):
        at = reason.find(marker)
        if at >= 0:
            reason = reason[:at].rstrip("; ")
            break
    if applied:
        return replace(
            result,
            outcome=Outcome.UPDATED,
            reason=_reason(f"the update was applied; {RESUMED_LATER_NOTE}"),
            campaign_status="scheduled",
        )
    reason = f"{reason}; {RESUMED_LATER_NOTE}" if reason else RESUMED_LATER_NOTE
    status = "scheduled" if result.campaign_status == "paused" else result.campaign_status
    return replace(result, reason=_reason(reason), campaign_status=status)


def with_duration(result: RowResult, duration_ms: int) -> RowResult:
    """``result`` with its duration: ``dataclasses.replace`` without its generic machinery
    (this runs once per row).  Every field is named here; a test checks none is left out."""
    return RowResult(
        row=result.row,
        key=result.key,
        outcome=result.outcome,
        reason=result.reason,
        http_status=result.http_status,
        attempts=result.attempts,
        changed_fields=result.changed_fields,
        campaign_status=result.campaign_status,
        updated_at=result.updated_at,
        duration_ms=duration_ms,
        before=result.before,
        changes=result.changes,
        settled=result.settled,
    )


def not_attempted(row: int, key: CampaignKey | None, why: str) -> RowResult:
    """A row the run did not get to."""
    return RowResult(row, key, Outcome.NOT_ATTEMPTED, _reason(why))


def invalid(row: int, key: CampaignKey | None, reasons: list[str]) -> RowResult:
    return RowResult(row, key, Outcome.INVALID, _reason("; ".join(reasons)))


# ---------------------------------------------------------------------------------------------
# Records: the report row, which is also the journal's ``done`` line
# ---------------------------------------------------------------------------------------------


def result_record(result: RowResult) -> dict[str, Any]:
    """The report row of a result, as plain values (also the ``done`` journal line)."""
    key = result.key
    return {
        "row": result.row,
        "org_id": key.org_id if key else "",
        "workspace_id": key.workspace_id if key else "",
        "campaign_id": key.campaign_id if key else "",
        "outcome": result.outcome.value,
        "reason": result.reason,
        "http_status": result.http_status,
        "attempts": result.attempts,
        "changed_fields": ";".join(result.changed_fields),
        "campaign_status": _stamp(result.campaign_status),
        "updated_at": _stamp(result.updated_at),
        "duration_ms": result.duration_ms,
    }


def _stamp(value: str | None) -> str | None:
    """A status or time stamp as the API gave it (raw: the journal keeps what was said), but
    never a megabyte of it."""
    return value if value is None or len(value) <= STAMP_LIMIT else cap(value, STAMP_LIMIT)


def result_from_record(record: Mapping[str, Any]) -> RowResult:
    """The inverse of :func:`result_record` (for rows a resumed run keeps; the journal reader
    has checked the outcome and the row)."""
    ids = (record.get("org_id"), record.get("workspace_id"), record.get("campaign_id"))
    key = (
        CampaignKey(str(ids[0]), str(ids[1]), str(ids[2]))
        if all(isinstance(v, str) and v for v in ids)
        else None
    )
    changed = record.get("changed_fields") or ""
    before = record.get("before")
    return RowResult(
        row=int(record["row"]),
        key=key,
        outcome=Outcome(record["outcome"]),
        reason=str(record.get("reason") or ""),
        http_status=record.get("http_status"),
        attempts=int(record.get("attempts") or 0),
        changed_fields=tuple(p for p in str(changed).split(";") if p),
        campaign_status=record.get("campaign_status"),
        updated_at=record.get("updated_at"),
        duration_ms=int(record.get("duration_ms") or 0),
        before=dict(before) if isinstance(before, Mapping) else {},
    )
