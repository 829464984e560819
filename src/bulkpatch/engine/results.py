"""A row's one outcome: built by one pure function from the plan and what happened.

:func:`row_result` is the only place that decides a row's outcome and reason from a
:class:`~bulkpatch.engine.planner.RowPlan` and an :class:`~bulkpatch.engine.executor.Execution` (or
the failed read that left no plan).  Its records -- the report row and the journal's ``done``
line -- are made in :mod:`bulkpatch.core.results` (``report_row``, ``done_record``,
``result_from_done``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import (
    APPLIED_BUT,
    CONFIRMED_ON_RESUME,
    LEFT_PAUSED_NOTE,
    RESUME_FAILED,
    UNSURE_RESUME_FAILED,
    RowResult,
    reason_text,
)
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.core.text import shorten
from bulkpatch.core.values import MISSING, get_path, same_value
from bulkpatch.engine.executor import Execution
from bulkpatch.engine.planner import (
    BadAnswer,
    Confirmed,
    Invalid,
    Patch,
    PausePatchResume,
    RowPlan,
    Skip,
    Stale,
    Unchanged,
    other_campaign,
)
from bulkpatch.transport.replies import Kind, Reply
from bulkpatch.transport.retries import Sent

#: The start of the reason of a row whose PATCH was accepted with an answer that differs from it.
ANSWER_DIFFERS = "answer differs: "
#: Fields the PATCH's answer (a campaign summary) gives elsewhere than the row's path.
_SUMMARY_NAMES = {"app_config.app_version": "app_version"}


def answer_differs(change: RowChange, fields: tuple[str, ...], data: Any) -> str:
    """How a PATCH's accepted answer differs from what was sent ("" when it does not): an id
    naming another campaign, or a field the PATCH set answered with another value.  Values
    compare as the read-back compares them (:func:`same_value`: instants as instants, and so
    on), so an API normalising a value does not differ; a field the answer leaves out or null
    says nothing."""
    if not isinstance(data, Mapping):
        return ""
    problems = [wrong] if (wrong := other_campaign(data, change.key)) else []
    for path, target in _sent_values(change, fields):
        answered = get_path(data, path)
        if answered is MISSING and path in _SUMMARY_NAMES:
            answered = data.get(_SUMMARY_NAMES[path], MISSING)
        if answered is MISSING or answered is None or same_value(path, answered, target):
            continue
        problems.append(f"{path} {shorten(answered)}, not {shorten(target)}")
    return reason_text(ANSWER_DIFFERS + "; ".join(problems)) if problems else ""


def _sent_values(change: RowChange, fields: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(path, value) of what the PATCH set, and of each summary field inside an object it set."""
    sent = [(path, change.changes[path]) for path in fields if path in change.changes]
    for path in _SUMMARY_NAMES:
        top, _, rest = path.partition(".")
        if path not in fields and isinstance(whole := change.changes.get(top), Mapping):
            value = get_path(whole, rest)
            if top in fields and value is not MISSING:
                sent.append((path, value))
    return sent


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
            reason_text(
                f"{what}: run stopped: {why}" if stop_reason else f"{what}: not sent: {why}"
            ),
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
        reason_text(f"{what}: {message}"),
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
        return RowResult(row, key, Outcome.FAILED, reason_text(plan.reason))
    if isinstance(plan, Invalid):
        return RowResult(
            row,
            key,
            Outcome.INVALID,
            reason_text("; ".join(plan.reasons)),
            changes=plan.changes,
            **seen,
        )
    if isinstance(plan, Stale):
        reason = "stale: " + "; ".join(plan.mismatches)
        return RowResult(
            row, key, Outcome.SKIPPED, reason_text(reason), changes=plan.changes, **seen
        )
    if isinstance(plan, Unchanged):
        if in_doubt or isinstance(plan, Confirmed):
            # What the write changed: its before-values' paths, when its journal line had them.
            before = plan.before if isinstance(plan, Confirmed) else {}
            return RowResult(
                row,
                key,
                Outcome.UPDATED,
                CONFIRMED_ON_RESUME,
                changed_fields=tuple(before or change.changes),
                before=before,
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
            reason_text(plan.reason),
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
            reason_text(f"confirmed by reading back after: {sent.unclear.describe()}"),
            http_status=reply.status,
            attempts=sent.sent,
            changed_fields=fields,
            before=plan.before,
            **_summary_fields(reply.data),
        )
    if reply.ok:
        differs = answer_differs(change, fields, reply.data)
        # An answer naming another campaign says nothing of this one's status or stamp.
        other = isinstance(reply.data, Mapping) and other_campaign(reply.data, key)
        return RowResult(
            row,
            key,
            Outcome.UPDATED,
            differs,
            http_status=reply.status,
            attempts=sent.sent,
            changed_fields=fields,
            before=plan.before,
            **({} if other else _summary_fields(reply.data)),
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
            reason += f"{UNSURE_RESUME_FAILED}({execution.left_paused}): it may be LEFT PAUSED"
        return replace(result, reason=reason_text(reason))
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
    note = APPLIED_BUT if result.outcome is Outcome.UPDATED else ""
    reason = (
        f"{result.reason}; " if result.reason else ""
    ) + f"{note}{RESUME_FAILED}({execution.left_paused}); {LEFT_PAUSED_NOTE}"
    return replace(result, outcome=outcome, reason=reason_text(reason), campaign_status="paused")
