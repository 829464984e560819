"""pydantic's errors in plain words, and the small helpers every part of validation shares.

A converter never raises on bad cell text: it raises :class:`Invalid` inside, which the column's
converter turns into the rules the cell breaks (at most :data:`MAX_RULES_PER_CELL`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from bulkpatch.core.models import ID_PATTERN
from bulkpatch.core.text import shorten

#: Distinct cell texts remembered per column before the cache starts over.
CACHE_SIZE = 4096
#: Rule problems listed per cell at most (a broken JSON object can break many rules at once).
MAX_RULES_PER_CELL = 8

Loc = tuple[str | int, ...]

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def format_rows(rows: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" and {len(rows) - limit:,} more"
    return shown


class Invalid(Exception):
    """Internal: a value breaks rules.  ``errors`` are (location inside the value, message)."""

    def __init__(self, errors: list[tuple[Loc, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def rules_of(errors: Iterable[tuple[Loc, str]]) -> tuple[str, ...]:
    out: list[str] = []
    for loc, message in errors:
        where = _format_loc(loc)
        if where.startswith("["):  # inside a list: "item [0].phone_numbers[1]: ..."
            where = f"item {where}"
        rule = f"{where}: {message}" if where else message
        if rule not in out:
            out.append(rule)
    if len(out) > MAX_RULES_PER_CELL:
        extra = len(out) - MAX_RULES_PER_CELL
        out = [*out[:MAX_RULES_PER_CELL], f"and {extra} more problem(s) in this cell"]
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# pydantic errors in plain words
# ---------------------------------------------------------------------------------------------

PATTERN_WORDS = {
    ID_PATTERN: "must be 1-128 characters, each a letter, digit, - or _",
    "^[A-Za-z0-9 _-]+$": "may hold only letters, digits, spaces, - and _",
}
_DAY_WORDS = "use Monday ... Sunday, or Mon ... Sun"
ISO_EXAMPLE = "2025-01-31T18:00:00+05:30"


#: How a spreadsheet date cell reads as text (``2026-12-01 18:00:00``): no ``T``, no zone.
_SPREADSHEET_DATE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d(\.\d+)?)?$")


def _is_branch_tag(part: str | int) -> bool:
    # pydantic names union branches and validator wrappers in ``loc``; our keys are identifiers.
    return isinstance(part, str) and not part.isidentifier()


def translate(error: Mapping[str, Any]) -> tuple[Loc, str]:
    """One pydantic error -> (location, message in plain words)."""
    loc: Loc = tuple(p for p in error.get("loc", ()) if not _is_branch_tag(p))
    kind: str = error.get("type", "")
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    given = error.get("input")
    message: str
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error", error.get("msg", ""))).removeprefix("Value error, ")
    elif given is None and (kind.endswith("_type") or kind == "model_attributes_type"):
        message = "must not be null: leave it out to keep the current value"
    elif kind == "missing":
        return loc[:-1], f"missing `{loc[-1]}`" if loc else "a required value is missing"
    elif kind == "extra_forbidden":
        return loc[:-1], f"unknown key `{loc[-1]}`" if loc else "unknown key"
    elif kind == "string_too_long":
        length = f" (it has {len(given)})" if isinstance(given, str) else ""
        message = f"must be at most {ctx.get('max_length')} characters{length}"
    elif kind == "string_too_short":
        least = ctx.get("min_length", 1)
        message = "must not be empty" if least == 1 else f"must be at least {least} characters"
    elif kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        message = PATTERN_WORDS.get(pattern, f"must match the pattern {pattern}")
    elif kind in ("string_type", "string_unicode"):
        message = "must be text"
    elif kind == "int_from_float":
        message = "must be a whole number, without a fraction"
    elif kind in ("int_parsing", "int_type", "int_parsing_size"):
        message = "must be a whole number"
    elif kind in ("float_parsing", "float_type", "finite_number"):
        message = "must be a number"
    elif kind == "greater_than_equal":
        message = f"must be at least {ctx.get('ge')}"
    elif kind == "greater_than":
        message = f"must be more than {ctx.get('gt')}"
    elif kind == "less_than_equal":
        message = f"must be at most {ctx.get('le')}"
    elif kind == "less_than":
        message = f"must be less than {ctx.get('lt')}"
    elif kind in ("bool_parsing", "bool_type"):
        message = "must be true or false (yes/no and 1/0 work too)"
    elif kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        if "'Monday'" in expected:
            # The day names itself; its position in the list adds nothing.
            while loc and isinstance(loc[-1], int):
                loc = loc[:-1]
            message = f"`{shorten(given, 20)}` is not a day: {_DAY_WORDS}"
        else:
            message = f"must be {expected}"
    elif kind == "timezone_aware":
        message = f"has no time zone: add Z or an offset such as +05:30 (for example {ISO_EXAMPLE})"
        if isinstance(given, str) and _SPREADSHEET_DATE.match(given):
            message += (
                "; a spreadsheet date cell has no time zone: format the column as text and "
                "type the date, time and offset"
            )
    elif kind.startswith(("datetime", "date_")):
        message = f"must be an ISO 8601 date and time with a time zone, for example {ISO_EXAMPLE}"
    elif kind == "list_type":
        message = "must be a list (in CSV: JSON text such as [1, 2])"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = 'must be an object (in CSV: JSON text such as {"key": "value"})'
    elif kind == "too_short":
        least = ctx.get("min_length", 1)
        message = "must not be empty" if least == 1 else f"must have at least {least} items"
    elif kind == "too_long":
        message = f"must have at most {ctx.get('max_length')} items"
    else:
        message = str(error.get("msg", kind))
    return loc, message


def errors_of(exc: ValidationError) -> list[tuple[Loc, str]]:
    return [translate(e) for e in exc.errors(include_url=False)]
