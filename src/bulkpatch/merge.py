"""Merging a row's changes into the campaign the API holds: the pure heart of a run.

The API replaces ``allowed_schedule`` and ``app_config`` whole, so a change to one field inside
either means: take the stored object, change that field, send the whole object.  Objects merge key
by key, lists replace, ``app_id``/``app_type`` are copied from the stored config.

Everything here is a pure function of (current campaign, row); nothing does I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from bulkpatch.columns import FULL_REPLACEMENT_OBJECTS
from bulkpatch.models import EDITABLE_STATUSES, AgentConfig, AllowedSchedule
from bulkpatch.rows import RowChange

#: ``end_timestamp`` must lie in [start + MIN_RUN, start + MAX_RUN].
MIN_RUN = timedelta(seconds=120)
MAX_RUN = timedelta(days=30)
#: Paths whose values are instants: compared as instants, not as text.
_INSTANT_PATHS = frozenset({"end_timestamp", "start_timestamp", "updated_at", "created_at"})


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def get_path(obj: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted path, or :data:`MISSING`."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def deep_merge(base: Any, patch: Any) -> Any:
    """``patch`` laid over ``base``: objects merge key by key, anything else replaces."""
    if isinstance(base, Mapping) and isinstance(patch, Mapping):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = deep_merge(base.get(key), value)
        return merged
    return copy.deepcopy(patch)


def _set_path(obj: dict[str, Any], parts: list[str], value: Any) -> None:
    node = obj
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    last = parts[-1]
    node[last] = deep_merge(node.get(last), value)


def parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def same_value(path: str, current: Any, target: Any) -> bool:
    """Whether the campaign already holds ``target`` at ``path``.

    Instants compare as instants (``Z`` equals ``+00:00``); objects compare key by key over the
    keys the target names (the rest is kept by the merge anyway); numbers compare by value.
    """
    if current is MISSING:
        return False
    if path.rsplit(".", 1)[-1] in _INSTANT_PATHS:
        a, b = parse_instant(current), parse_instant(target)
        if a is not None and b is not None:
            try:
                return a == b
            except TypeError:  # naive vs aware: never equal
                return False
    if isinstance(target, Mapping):
        if not isinstance(current, Mapping):
            return False
        return all(
            same_value(f"{path}.{key}", current.get(key, MISSING), value)
            for key, value in target.items()
        )
    if isinstance(target, bool) or isinstance(current, bool):
        return type(target) is type(current) and target == current
    return bool(current == target)


@dataclass(frozen=True, slots=True)
class MergeResult:
    """What a row would do to one campaign."""

    #: The PATCH body: only the top-level fields/objects that differ, objects whole.
    body: dict[str, Any]
    #: The row's change paths whose target differs from the campaign (dotted, sheet order).
    changed_fields: tuple[str, ...]
    #: Current values of ``changed_fields`` (undo data for the journal).
    before: dict[str, Any]
    #: Current and target value per changed path, for ``plan`` (``old -> new``).
    diff: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: Problems that make the row invalid now that the campaign is known.
    problems: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not self.changed_fields and not self.problems


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def merge_change(current: Mapping[str, Any], change: RowChange) -> MergeResult:
    """Apply ``change`` onto ``current`` (a campaign detail as the API returned it)."""
    changed: list[str] = []
    before: dict[str, Any] = {}
    diff: dict[str, tuple[Any, Any]] = {}
    for path, target in change.changes.items():
        now = get_path(current, path)
        if not same_value(path, now, target):
            changed.append(path)
            before[path] = _plain(now)
            diff[path] = (_plain(now), target)

    touched_tops = {path.split(".", 1)[0] for path in changed}
    body: dict[str, Any] = {}
    for top in touched_tops:
        if top in FULL_REPLACEMENT_OBJECTS:
            stored = current.get(top)
            merged: dict[str, Any] = (
                copy.deepcopy(dict(stored)) if isinstance(stored, Mapping) else {}
            )
            for path, target in change.changes.items():
                parts = path.split(".")
                if parts[0] != top:
                    continue
                if len(parts) == 1:
                    merged = deep_merge(merged, target)
                else:
                    _set_path(merged, parts[1:], target)
            body[top] = merged
        else:
            body[top] = copy.deepcopy(change.changes[top])

    problems = _check_against_current(current, change, body)
    if "app_config" in body and isinstance(current.get("app_config"), Mapping):
        stored_config = current["app_config"]
        for immutable in ("app_id", "app_type"):
            if immutable in stored_config:
                body["app_config"][immutable] = stored_config[immutable]
    ordered = {top: body[top] for top in sorted(body, key=_field_order)}
    return MergeResult(
        body=ordered,
        changed_fields=tuple(changed),
        before=before,
        diff=diff,
        problems=tuple(problems),
    )


_FIELD_ORDER = ("name", "description", "app_config", "end_timestamp", "allowed_schedule")


def _field_order(name: str) -> int:
    return _FIELD_ORDER.index(name) if name in _FIELD_ORDER else len(_FIELD_ORDER)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    loc = ".".join(str(p) for p in error["loc"])
    msg = str(error["msg"]).removeprefix("Value error, ")
    return f"{loc}: {msg}" if loc else msg


def _known_keys(model: type[AgentConfig] | type[AllowedSchedule], obj: Mapping[str, Any]) -> Any:
    return {k: v for k, v in obj.items() if k in model.model_fields}


def _check_against_current(
    current: Mapping[str, Any], change: RowChange, body: Mapping[str, Any]
) -> list[str]:
    """The checks of SPEC section 4 that need the campaign as it is now."""
    problems: list[str] = []
    stored_config = current.get("app_config")
    if isinstance(stored_config, Mapping):
        for immutable in ("app_id", "app_type"):
            # Set by a dotted column, or inside a whole `app_config` object.
            wanted = change.changes.get(
                f"app_config.{immutable}", get_path(change.changes, f"app_config.{immutable}")
            )
            stored = stored_config.get(immutable, MISSING)
            if wanted is not MISSING and stored is not MISSING and wanted != stored:
                problems.append(
                    f"app_config.{immutable} cannot change (campaign has {stored!r}, "
                    f"row asks for {wanted!r})"
                )

    if "end_timestamp" in body:
        end = parse_instant(body["end_timestamp"])
        start = parse_instant(current.get("start_timestamp"))
        if end is not None and start is not None:
            try:
                if end < start + MIN_RUN:
                    problems.append(
                        f"end_timestamp {body['end_timestamp']} is earlier than 120 s after the "
                        f"campaign's start_timestamp {current.get('start_timestamp')}"
                    )
                elif end > start + MAX_RUN:
                    problems.append(
                        f"end_timestamp {body['end_timestamp']} is more than 30 days after the "
                        f"campaign's start_timestamp {current.get('start_timestamp')}"
                    )
            except TypeError:
                problems.append("the campaign's start_timestamp has no time zone")

    for top, model in (("allowed_schedule", AllowedSchedule), ("app_config", AgentConfig)):
        if top in body:
            try:
                model.model_validate(_known_keys(model, body[top]))
            except ValidationError as exc:
                problems.append(f"{top} after the merge is not valid: {_first_error(exc)}")
    return problems


def guard_mismatches(current: Mapping[str, Any], expects: Mapping[str, Any]) -> list[str]:
    """The ``expect.`` guards the campaign does not meet, as readable text."""
    stale: list[str] = []
    for path, expected in expects.items():
        now = get_path(current, path)
        if not same_value(path, now, expected):
            stale.append(f"expected {path} = {expected!r}, campaign has {_plain(now)!r}")
    return stale


@dataclass(frozen=True, slots=True)
class StatusDecision:
    """What the campaign's status lets us do: PATCH, pause-PATCH-resume, or skip (with why)."""

    patch: bool
    pause_first: bool = False
    reason: str = ""


def decide_status(status: str | None, *, pause_active: bool) -> StatusDecision:
    if status in EDITABLE_STATUSES:
        return StatusDecision(patch=True)
    if status == "active":
        if pause_active:
            return StatusDecision(patch=True, pause_first=True)
        return StatusDecision(
            patch=False,
            reason="campaign is active; rerun with --pause-active to pause, edit, resume",
        )
    if status in ("ended", "cancelled"):
        return StatusDecision(patch=False, reason=f"campaign is {status}; it can no longer change")
    return StatusDecision(patch=False, reason=f"campaign status {status!r} is not editable")


def holds_target(current: Mapping[str, Any], change: RowChange) -> bool:
    """Whether the campaign already holds every target value of the row (reconciliation)."""
    return all(
        same_value(path, get_path(current, path), target) for path, target in change.changes.items()
    )
