"""``export --where``: conditions on a campaign's detail, all of which must hold.

``PATH OP VALUE``, where PATH is a dotted path into the campaign as GET answers it
(``status``, ``name``, ``allowed_schedule.timezone``, ``app_config.app_version``,
``app_config.webhook_config.metadata.team``, ...) and OP is one of:

=============  =============================================================================
``=``          equal: numbers by value (``7`` = ``7.0``), times as instants, else as text
``!=``         not equal (a missing or null field reads as empty text)
``<`` ``<=``   numbers, or ISO 8601 times with a zone (``end_timestamp<2026-02-01T00:00:00Z``);
``>`` ``>=``   a field that is neither never matches
``~``          the text matches the regular expression anywhere (``name~^Diwali``)
``!~``         it does not
=============  =============================================================================

A field reads as text the way ``export`` writes it: lists of words joined with commas
(``allowed_schedule.allowed_days~Saturday``), objects as JSON, ``true`` / ``false``.  The value
may be quoted (``name="Diwali Sale"``).  :func:`parse_where` raises ``ValueError`` with the reason
for a condition that cannot be read; everything here is pure.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bulkpatch.core.columns import CHANGE_PATHS
from bulkpatch.core.values import MISSING, get_path, parse_instant

#: Fields of a campaign's detail beside the PATCH body's paths.
DETAIL_FIELDS = (
    "campaign_id",
    "status",
    "app_id",
    "app_type",
    "app_version",
    "created_by",
    "created_at",
    "updated_at",
    "updated_by",
    "start_timestamp",
)
#: Free-form objects: any key below them is a field.
FREE_FORM = ("app_config.webhook_config.metadata",)
_OPERATORS = ("!=", "<=", ">=", "!~", "=", "<", ">", "~")
_SHAPE = re.compile(
    r"^\s*(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)\s*"
    r"(?P<op>!=|<=|>=|!~|=|<|>|~)(?P<value>.*)$",
    re.DOTALL,
)
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def known_paths() -> list[str]:
    return [*DETAIL_FIELDS, *CHANGE_PATHS]


def _check_path(path: str) -> None:
    if path in DETAIL_FIELDS or path in CHANGE_PATHS:
        return
    if any(path.startswith(prefix + ".") for prefix in FREE_FORM):
        return
    close = difflib.get_close_matches(path, known_paths(), n=1, cutoff=0.6)
    hint = f" — did you mean `{close[0]}`?" if close else ""
    raise ValueError(f"unknown field `{path}`{hint}")


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _number(text: str) -> float | None:
    return float(text) if _NUMBER.fullmatch(text.strip()) else None


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    path: str
    op: str
    value: str
    pattern: re.Pattern[str] | None = None
    number: float | None = None
    instant: datetime | None = None

    def __str__(self) -> str:
        return self.text

    def matches(self, detail: Mapping[str, Any]) -> bool:
        found = get_path(detail, self.path)
        if self.op in ("~", "!~"):
            assert self.pattern is not None
            hit = self.pattern.search(field_text(found)) is not None
            return hit if self.op == "~" else not hit
        if self.op in ("=", "!="):
            same = self._equal(found)
            return same if self.op == "=" else not same
        return self._order(found)

    def _equal(self, found: Any) -> bool:
        if self.number is not None and _is_number(found):
            return float(found) == self.number
        if self.instant is not None and isinstance(found, str):
            mine = parse_instant(found)
            if mine is not None and mine.tzinfo is not None:
                return mine == self.instant
        if isinstance(found, bool):
            return field_text(found) == self.value.lower()
        return field_text(found) == self.value

    def _order(self, found: Any) -> bool:
        left: float | datetime
        right: float | datetime
        if self.number is not None and _is_number(found):
            left, right = float(found), self.number
        elif self.instant is not None and isinstance(found, str):
            mine = parse_instant(found)
            if mine is None or mine.tzinfo is None:
                return False
            left, right = mine, self.instant
        else:
            return False
        if self.op == "<":
            return left < right  # type: ignore[operator]
        if self.op == "<=":
            return left <= right  # type: ignore[operator]
        if self.op == ">":
            return left > right  # type: ignore[operator]
        return left >= right  # type: ignore[operator]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def field_text(value: Any) -> str:
    """A field as ``=`` and ``~`` read it (and as ``export`` writes it)."""
    if value is None or value is MISSING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_number(value):
        return json.dumps(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def parse_where(text: str) -> Condition:
    """One ``--where`` condition; ``ValueError`` says what is wrong with it."""
    match = _SHAPE.match(text)
    if match is None:
        raise ValueError(
            f"--where {text!r} is not PATH OP VALUE (OP one of {', '.join(_OPERATORS)}), "
            "for example allowed_schedule.timezone=Asia/Kolkata"
        )
    path, op = match.group("path"), match.group("op")
    value = _unquote(match.group("value"))
    try:
        _check_path(path)
    except ValueError as exc:
        raise ValueError(f"--where {text!r}: {exc}") from None
    number = _number(value)
    instant = parse_instant(value) if number is None else None
    if instant is not None and instant.tzinfo is None:
        instant = None
    pattern = None
    if op in ("~", "!~"):
        try:
            pattern = re.compile(value)
        except re.error as exc:
            raise ValueError(f"--where {text!r}: not a valid regular expression ({exc})") from None
    elif op in ("<", "<=", ">", ">=") and number is None and instant is None:
        raise ValueError(
            f"--where {text!r}: {op} compares numbers or ISO 8601 times with a zone, and "
            f"{value!r} is neither"
        )
    return Condition(
        text=text.strip(),
        path=path,
        op=op,
        value=value,
        pattern=pattern,
        number=number,
        instant=instant,
    )


def matches_all(conditions: tuple[Condition, ...], detail: Mapping[str, Any]) -> bool:
    return all(c.matches(detail) for c in conditions)
