"""A row's one outcome as data: :class:`RowResult`, its line of results.csv
(:func:`report_row`) and its journal line (:func:`done_record`, read back by
:func:`result_from_done`).

The outcome itself is decided in ``engine/results.py``
(:func:`~bulkpatch.engine.results.row_result`) from a plan and what happened; this module holds
the value that decision makes, the rows that need no decision (``not_attempted``, ``invalid``),
the late change a resume makes to a row left paused, and its two records: the report's row and
the journal's line, each of its own shape.
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
# Records: the report row (results.csv) and the journal's ``done`` line, two shapes of their own
# ---------------------------------------------------------------------------------------------

#: results.csv's columns, in order: which row, what came of it, then the details.
REPORT_COLUMNS: tuple[str, ...] = (
    "row",
    "org_id",
    "workspace_id",
    "campaign_id",
    "outcome",
    "reason",
    "http_status",
    "attempts",
    "changed_fields",
    "campaign_status",
    "updated_at",
    "duration_ms",
)
#: The columns of :data:`REPORT_COLUMNS` that hold whole numbers (typed so in results.parquet).
REPORT_INTEGERS: frozenset[str] = frozenset({"row", "http_status", "attempts", "duration_ms"})

#: The format of a ``done`` journal line (its ``"v"``).  A line without one was written before
#: lines carried it, in the same shape as format 1; a reader refuses a newer format.
DONE_FORMAT = 1


def report_row(result: RowResult) -> dict[str, Any]:
    """A result's line of results.csv, as plain values keyed by :data:`REPORT_COLUMNS`."""
    return {
        "row": result.row,
        **_ids(result.key),
        "outcome": result.outcome.value,
        "reason": result.reason,
        "http_status": result.http_status,
        "attempts": result.attempts,
        "changed_fields": ";".join(result.changed_fields),
        "campaign_status": _stamp(result.campaign_status),
        "updated_at": _stamp(result.updated_at),
        "duration_ms": result.duration_ms,
    }


def _ids(key: CampaignKey | None) -> dict[str, str]:
    if key is None:
        return {"org_id": "", "workspace_id": "", "campaign_id": ""}
    return {"org_id": key.org_id, "workspace_id": key.workspace_id, "campaign_id": key.campaign_id}


def done_record(result: RowResult) -> dict[str, Any]:
    """A result as the journal keeps it (the fields of a ``done`` line, and of an ``unsettled``
    one): what :func:`result_from_done` needs to give the row back to ``resume``, ``undo``,
    ``verify`` and ``report`` -- the values before the change included."""
    # Field names and values as format 1 had them: an older bulkpatch reads this line too.
    record: dict[str, Any] = {"v": DONE_FORMAT, "row": result.row, **_ids(result.key)}
    record["outcome"] = result.outcome.value
    record["reason"] = result.reason
    record["http_status"] = result.http_status
    record["attempts"] = result.attempts
    record["changed_fields"] = ";".join(result.changed_fields)
    record["campaign_status"] = _stamp(result.campaign_status)
    record["updated_at"] = _stamp(result.updated_at)
    record["duration_ms"] = result.duration_ms
    record["before"] = result.before
    return record


def done_format(record: Mapping[str, Any]) -> int | None:
    """The format of a ``done`` line (1 for one written before lines carried it); None for one
    this version cannot read (a newer format)."""
    v = record.get("v", 1)
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= DONE_FORMAT:
        return v
    return None


def _stamp(value: str | None) -> str | None:
    """A status or time stamp as the API gave it (raw: the journal keeps what was said), but
    never a megabyte of it."""
    return value if value is None or len(value) <= STAMP_LIMIT else cap(value, STAMP_LIMIT)


def result_from_done(record: Mapping[str, Any]) -> RowResult:
    """The result a ``done`` line (of any format this version reads) holds: the inverse of
    :func:`done_record` (the journal reader has checked the outcome, the row and the format)."""
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
