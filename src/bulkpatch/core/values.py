"""Values inside a campaign: reading a dotted path, merging a change in, comparing.

The API replaces ``allowed_schedule`` and ``app_config`` whole, so a change to one field inside
either means: take the stored object, change that field, send the whole object.  Inside them,
objects the API models (``retry_config``, ``retry_on``, ``webhook_config``, ...) merge key by key;
everything else is *replaced whole*: lists (``connection_configs``, ``allowed_days``,
``retry_interval_minutes``) and free-form objects (``webhook_config.metadata``, where ``{}``
clears it).  The same rule decides merging, guards and reading back, so they never disagree.

Everything here is a pure function; nothing does I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bulkpatch.core.columns import CHANGE_PATHS, kind_at

#: Fields of a campaign's detail that are no column's path but hold instants.  A column's path
#: holds instants when its kind says so (``end_timestamp``: an ``AwareDatetime``).
_DETAIL_INSTANTS = frozenset({"start_timestamp", "updated_at", "created_at"})


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


def merges_key_by_key(path: str) -> bool:
    """Whether the object at ``path`` merges key by key (a modelled object) rather than being
    replaced whole (a list, a free-form object such as ``webhook_config.metadata``)."""
    spec = CHANGE_PATHS.get(path)
    return spec is not None and spec.is_object


def get_path(obj: Mapping[str, Any] | None, path: str) -> Any:
    """The value at a dotted path, or :data:`MISSING`."""
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def merge_at(path: str, base: Any, patch: Any) -> Any:
    """``patch`` laid over ``base``, the value at ``path``: a modelled object merges key by key,
    anything else replaces (a copy)."""
    if isinstance(patch, Mapping) and isinstance(base, Mapping) and merges_key_by_key(path):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = merge_at(f"{path}.{key}", base.get(key), value)
        return merged
    return copy.deepcopy(patch)


def set_at(obj: dict[str, Any], path: str, value: Any, *, within: str = "") -> None:
    """Merge ``value`` into ``obj`` at the dotted ``path`` (relative to ``within``), creating
    objects on the way."""
    parts = path.split(".")
    node = obj
    prefix = within
    for part in parts[:-1]:
        prefix = f"{prefix}.{part}" if prefix else part
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    last = parts[-1]
    full = f"{prefix}.{last}" if prefix else last
    node[last] = merge_at(full, node.get(last), value)


def parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _holds_instants(path: str) -> bool:
    return kind_at(path) == "instant" or path in _DETAIL_INSTANTS


def _equal(path: str, current: Any, target: Any) -> bool:
    """Whole equality: instants as instants, numbers by value, booleans only as booleans,
    lists item by item, objects key by key over *both* sides."""
    if _holds_instants(path):
        a, b = parse_instant(current), parse_instant(target)
        if a is not None and b is not None:
            try:
                return a == b
            except TypeError:  # naive vs aware: never equal
                return False
    if isinstance(target, bool) or isinstance(current, bool):
        return type(target) is type(current) and target == current
    if isinstance(target, Mapping):
        if not isinstance(current, Mapping) or current.keys() != target.keys():
            return False
        return all(_equal(f"{path}.{k}", current[k], v) for k, v in target.items())
    if isinstance(target, list):
        if not isinstance(current, list) or len(current) != len(target):
            return False
        return all(_equal(path, c, t) for c, t in zip(current, target, strict=True))
    if isinstance(target, int | float) and isinstance(current, int | float):
        return current == target
    return type(current) is type(target) and bool(current == target)


def same_value(path: str, current: Any, target: Any) -> bool:
    """Whether the campaign already holds ``target`` at ``path``.

    A modelled object compares over the keys the target names (the merge keeps the others);
    everything else compares whole (see :func:`_equal`).
    """
    if current is MISSING:
        return False
    if isinstance(target, Mapping) and merges_key_by_key(path):
        if not isinstance(current, Mapping):
            return False
        return all(
            same_value(f"{path}.{key}", current.get(key, MISSING), value)
            for key, value in target.items()
        )
    return _equal(path, current, target)


def plain(value: Any) -> Any:
    """``MISSING`` as ``None`` (for reports and the journal)."""
    return None if value is MISSING else value


def holds(current: Mapping[str, Any], changes: Mapping[str, Any]) -> bool:
    """Whether the campaign holds every target value of a row (reading back)."""
    return all(same_value(path, get_path(current, path), t) for path, t in changes.items())
