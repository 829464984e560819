"""Every decision about how one row is applied, in one pure function: :func:`plan_row`.

Given the campaign as read (or ``None`` with ``--no-read``) and the row's change, it says what to
do, as one of:

    RowPlan
     ├── BadAnswer          the GET's answer is not this campaign (another id, not an object)
     ├── Invalid            a check that needs the campaign failed; nothing is sent
     ├── Stale              an ``expect.`` guard does not hold; nothing is sent
     ├── Unchanged          the campaign already holds every target value
     │    └── Confirmed     ... and an earlier session sent this row's write: it is in place
     ├── Skip               its status does not allow an update (or pausing is off)
     ├── Patch              send this body
     └── PausePatchResume   pause, send this body, resume (an active campaign)

The executor (``executor.py``) carries a plan out; ``plan`` mode does not.  Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pydantic import ValidationError

from bulkpatch.core.columns import FULL_REPLACEMENT_OBJECTS
from bulkpatch.core.models import EDITABLE_STATUSES, AgentConfig, AllowedSchedule
from bulkpatch.core.results import FieldChange
from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.core.values import (
    MISSING,
    get_path,
    merge_at,
    parse_instant,
    plain,
    same_value,
    set_at,
)

#: ``end_timestamp`` must lie in [start + MIN_RUN, start + MAX_RUN].
MIN_RUN = timedelta(seconds=120)
MAX_RUN = timedelta(days=30)
_FIELD_ORDER = ("name", "description", "app_config", "end_timestamp", "allowed_schedule")
_IMMUTABLE = ("app_id", "app_type")

ACTIVE_SKIP_REASON = "campaign is active; rerun with --pause-active to pause, edit, resume"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOptions:
    pause_active: bool = False
    #: Set once pausing must stop (a resume was refused for good): why, for the rows skipped.
    no_pause_reason: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class RowPlan:
    """What to do with one row.  ``status`` / ``updated_at``: the campaign as read."""

    status: str | None = None
    updated_at: str | None = None
    #: The paths whose target differs from the campaign, in sheet order, with both values.
    changes: tuple[FieldChange, ...] = ()

    @property
    def changed_fields(self) -> tuple[str, ...]:
        return tuple(c.path for c in self.changes)


@dataclass(frozen=True, slots=True, kw_only=True)
class BadAnswer(RowPlan):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Invalid(RowPlan):
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stale(RowPlan):
    mismatches: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Unchanged(RowPlan):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Confirmed(Unchanged):
    """The change an earlier session sent (and never heard back about) is in place: the row is
    ``updated``.  ``before``: the values before that write, from its journal ``sent`` line."""

    before: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Skip(RowPlan):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Patch(RowPlan):
    #: The PATCH body: only the top-level fields and objects that differ, objects whole.
    body: dict[str, Any]
    #: The campaign's values before the change, per changed path (undo data).
    before: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class PausePatchResume(Patch):
    pass


def plan_row(
    current: Mapping[str, Any] | None,
    change: RowChange,
    options: PlanOptions,
    *,
    sent: Mapping[str, Any] | None = None,
) -> RowPlan:
    """What to do with ``change``, given the campaign as read (``None``: not read).

    ``sent``: an earlier session sent this row's write and never learnt its outcome (the
    before-values its journal ``sent`` line carries; None when no write was sent).  Its change
    found in place is that write's doing: :class:`Confirmed`, whatever the ``expect.`` guards
    say now (they held before the write, which changed what they look at).
    """
    if current is None:
        # --no-read: the row's top-level fields and whole objects go as given.
        return Patch(
            body=dict(change.changes),
            changes=tuple(FieldChange(p, None, v) for p, v in change.changes.items()),
        )
    wrong = answer_problem(current, change)
    if wrong:
        return BadAnswer(reason=wrong)
    status = _text(current.get("status"))
    updated_at = _text(current.get("updated_at"))
    changes = tuple(
        FieldChange(path, plain(now), target)
        for path, target in change.changes.items()
        if not same_value(path, now := get_path(current, path), target)
    )
    if sent is not None and not changes:
        return Confirmed(before=dict(sent), status=status, updated_at=updated_at)
    body = build_body(current, change, {c.path for c in changes})
    problems = checks_against_current(current, change, body)
    if problems:
        return Invalid(
            reasons=tuple(problems), status=status, updated_at=updated_at, changes=changes
        )
    stale = guard_mismatches(current, change.expects)
    if stale:
        return Stale(mismatches=tuple(stale), status=status, updated_at=updated_at, changes=changes)
    if not changes:
        return Unchanged(status=status, updated_at=updated_at, changes=changes)
    before = {c.path: c.old for c in changes}
    if status in EDITABLE_STATUSES:
        return Patch(
            body=body, before=before, status=status, updated_at=updated_at, changes=changes
        )
    if status == "active":
        if not options.pause_active:
            return Skip(
                reason=ACTIVE_SKIP_REASON, status=status, updated_at=updated_at, changes=changes
            )
        if options.no_pause_reason:
            return Skip(
                reason=f"campaign is active and not paused: {options.no_pause_reason}",
                status=status,
                updated_at=updated_at,
                changes=changes,
            )
        return PausePatchResume(
            body=body, before=before, status=status, updated_at=updated_at, changes=changes
        )
    if status in ("ended", "cancelled"):
        return Skip(
            reason=f"campaign is {status}; it can no longer change",
            status=status,
            updated_at=updated_at,
            changes=changes,
        )
    return Skip(
        reason=f"campaign status {status!r} is not editable",
        status=status,
        updated_at=updated_at,
        changes=changes,
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def answer_problem(current: Any, change: RowChange) -> str:
    """Why the GET's answer cannot be this row's campaign ("" when it can)."""
    if not isinstance(current, Mapping):
        return "GET: the answer was not a campaign (not a JSON object); nothing was sent"
    wrong = other_campaign(current, change.key)
    return f"GET: {wrong}; nothing was sent" if wrong else ""


def other_campaign(current: Mapping[str, Any], key: CampaignKey) -> str:
    """Why ``current`` is not campaign ``key`` ("" when it may be): an id it names differs."""
    for name, wanted in (
        ("campaign_id", key.campaign_id),
        ("org_id", key.org_id),
        ("workspace_id", key.workspace_id),
    ):
        got = current.get(name)
        if got is not None and got != wanted:
            return f"the API answered with {name} {str(got)[:128]!r}, not {wanted!r}"
    return ""


def build_body(current: Mapping[str, Any], change: RowChange, changed: set[str]) -> dict[str, Any]:
    """The PATCH body: each top-level field or object that differs; an object the API replaces
    whole is the stored one with the row's changes merged in, ``app_id``/``app_type`` kept."""
    tops = {path.split(".", 1)[0] for path in changed}
    body: dict[str, Any] = {}
    for top in sorted(tops, key=_field_order):
        if top not in FULL_REPLACEMENT_OBJECTS:
            body[top] = change.changes[top]
            continue
        stored = current.get(top)
        merged: dict[str, Any] = merge_at(top, {}, stored) if isinstance(stored, Mapping) else {}
        for path, target in change.changes.items():
            head, _, rest = path.partition(".")
            if head != top:
                continue
            if rest:
                set_at(merged, rest, target, within=top)
            else:
                merged = merge_at(top, merged, target)
        if top == "app_config" and isinstance(stored, Mapping):
            for name in _IMMUTABLE:
                if name in stored:
                    merged[name] = stored[name]
        body[top] = merged
    return body


def _field_order(name: str) -> int:
    return _FIELD_ORDER.index(name) if name in _FIELD_ORDER else len(_FIELD_ORDER)


def checks_against_current(
    current: Mapping[str, Any], change: RowChange, body: Mapping[str, Any]
) -> list[str]:
    """The rules that need the campaign as it is now: app_id / app_type unchanged, end_timestamp
    from start + 120 s to start + 30 days, the merged objects valid."""
    problems: list[str] = []
    stored_config = current.get("app_config")
    if isinstance(stored_config, Mapping):
        for name in _IMMUTABLE:
            # Set by a dotted column, or inside a whole `app_config` object.
            wanted = change.changes.get(
                f"app_config.{name}", get_path(change.changes, f"app_config.{name}")
            )
            stored = stored_config.get(name, MISSING)
            if wanted is not MISSING and stored is not MISSING and wanted != stored:
                problems.append(
                    f"app_config.{name} cannot change (campaign has {stored!r}, "
                    f"row asks for {wanted!r})"
                )
    if "end_timestamp" in body:
        problems.extend(_end_problems(body["end_timestamp"], current.get("start_timestamp")))
    for top, model in (("allowed_schedule", AllowedSchedule), ("app_config", AgentConfig)):
        if top in body:
            known = {k: v for k, v in body[top].items() if k in model.model_fields}
            try:
                model.model_validate(known)
            except ValidationError as exc:
                problems.append(f"{top} after the merge is not valid: {_first_error(exc)}")
    return problems


def _end_problems(end_value: Any, start_value: Any) -> list[str]:
    end, start = parse_instant(end_value), parse_instant(start_value)
    if end is None or start is None:
        return []
    try:
        if end < start + MIN_RUN:
            return [
                f"end_timestamp {end_value} is earlier than 120 s after the campaign's "
                f"start_timestamp {start_value}"
            ]
        if end > start + MAX_RUN:
            return [
                f"end_timestamp {end_value} is more than 30 days after the campaign's "
                f"start_timestamp {start_value}"
            ]
    except TypeError:
        return ["the campaign's start_timestamp has no time zone"]
    return []


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def guard_mismatches(current: Mapping[str, Any], expects: Mapping[str, Any]) -> list[str]:
    """The ``expect.`` guards the campaign does not meet, as readable text."""
    stale: list[str] = []
    for path, expected in expects.items():
        now = get_path(current, path)
        if not same_value(path, now, expected):
            stale.append(f"expected {path} = {expected!r}, campaign has {plain(now)!r}")
    return stale
