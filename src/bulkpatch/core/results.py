"""A row's one outcome as data: :class:`RowResult`, and its record in the reports and journal.

The outcome itself is decided in ``engine/results.py``
(:func:`~bulkpatch.engine.results.row_result`) from a plan and what happened; this module holds the
value that decision makes, the rows that need no decision (``not_attempted``, ``invalid``), the late
change a resume makes to a row left paused, and the conversion to and from the plain record the
reports and ``resume`` read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.text import cap, printable

CONFIRMED_ON_RESUME = (
    "confirmed by reading back: the change sent before the interruption is in place"
)
LEFT_PAUSED_NOTE = "it is LEFT PAUSED — `bulkpatch resume` on the run directory resumes it"
#: The API's status and updated_at are short; a longer one is cut to this many characters.
STAMP_LIMIT = 200
RESUMED_LATER_NOTE = "the campaign, left paused at first, was resumed later"
APPLIED_BUT = "the update was applied, but "
RESUME_FAILED = "resuming the campaign failed "
UNSURE_RESUME_FAILED = ", and resuming it failed "


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed path: the value the campaign holds and the row's target."""

    path: str
    old: Any
    new: Any


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


def reason_text(text: str) -> str:
    return cap(printable(text))


def resumed_later(result: RowResult) -> RowResult:
    """A finished row whose campaign was left paused, now that a later session resumed it.

    The row keeps its outcome -- except that an update applied before the resume failed is now
    simply ``updated`` -- and its reason no longer says LEFT PAUSED (nor sends anyone to resume).
    """
    reason = result.reason
    if "LEFT PAUSED" not in reason:
        return result
    applied = result.outcome is Outcome.FAILED and APPLIED_BUT + RESUME_FAILED in reason
    for marker in (APPLIED_BUT + RESUME_FAILED, RESUME_FAILED, UNSURE_RESUME_FAILED):
        at = reason.find(marker)
        if at >= 0:
            reason = reason[:at].rstrip("; ")
            break
    if applied:
        return replace(
            result,
            outcome=Outcome.UPDATED,
            reason=reason_text(f"the update was applied; {RESUMED_LATER_NOTE}"),
            campaign_status="scheduled",
        )
    reason = f"{reason}; {RESUMED_LATER_NOTE}" if reason else RESUMED_LATER_NOTE
    status = "scheduled" if result.campaign_status == "paused" else result.campaign_status
    return replace(result, reason=reason_text(reason), campaign_status=status)


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
    return RowResult(row, key, Outcome.NOT_ATTEMPTED, reason_text(why))


def invalid(row: int, key: CampaignKey | None, reasons: list[str]) -> RowResult:
    return RowResult(row, key, Outcome.INVALID, reason_text("; ".join(reasons)))


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
