"""``allowed_days`` shorthand: ``Mon,Tue``, ``monday; tuesday``, ``Mon-Sat`` -> API day names."""

from __future__ import annotations

import re
from typing import Any

from bulkpatch.core.models import DAYS

# ---------------------------------------------------------------------------------------------
# allowed_days
# ---------------------------------------------------------------------------------------------


def _day_lookup() -> dict[str, str]:
    table: dict[str, str] = {}
    for day in DAYS:
        lowered = day.lower()
        for end in range(3, len(lowered) + 1):  # mon, mond, monda, monday; tue, tues, ...
            table[lowered[:end]] = day
    return table


_DAY_BY_NAME = _day_lookup()
_DAY_SPLIT = re.compile(r"[,;/|\s]+")
_DAY_RANGE = re.compile(r"^\s*([A-Za-z]+)\.?\s*(?:-|–|—|\.\.|to)\s*([A-Za-z]+)\.?\s*$")


def _day(token: str) -> str:
    """A day token in any case, full or abbreviated, as ``Monday``...; unknown text is kept."""
    return _DAY_BY_NAME.get(token.strip().rstrip(".").lower(), token.strip())


def _day_range(token: str) -> list[str] | None:
    match = _DAY_RANGE.match(token)
    if match is None:
        return None
    first = _DAY_BY_NAME.get(match.group(1).lower())
    last = _DAY_BY_NAME.get(match.group(2).lower())
    if first is None or last is None:
        return None
    start, stop = DAYS.index(first), DAYS.index(last)
    span = (stop - start) % 7
    return [DAYS[(start + i) % 7] for i in range(span + 1)]


def normalise_days(value: Any) -> Any:
    """``"Mon,Tue"``, ``"monday; tuesday"``, ``"Mon-Fri"`` or a list of such names -> ``Monday``...

    Tokens that are not days are kept as they are, so that validation names them.
    Anything that is neither text nor a list is returned unchanged.
    """
    if isinstance(value, str):
        whole = _day_range(value)
        if whole is not None:
            return whole
        days: list[str] = []
        for token in _DAY_SPLIT.split(value.strip()):
            if not token:
                continue
            expanded = _day_range(token)
            if expanded is not None:
                days.extend(expanded)
            else:
                days.append(_day(token))
        return days
    if isinstance(value, list):
        return [_day(item) if isinstance(item, str) else item for item in value]
    return value
