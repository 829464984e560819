"""Offline validation: a row's cells -> a :class:`RowVerdict`; a sheet -> a :class:`SheetCheck`.

The field rules are not written here: every value is checked against the annotated types of
:mod:`bulkpatch.models` through ``pydantic.TypeAdapter``.  What this module adds is the sheet's
grammar (SPEC section 3):

* converting CSV text to what the type expects (numbers, ``true/false/yes/no/1/0``, JSON text
  for lists and objects, the ``allowed_days`` shorthand ``Mon,Tue``, ``monday; tuesday``,
  ``Mon-Sat``);
* whole-object columns checked *partially*: every key given must be a known, valid child; keys not
  given are left as they are (they are merged into the stored object later);
* the checks that span cells: key columns, start before end, two columns setting the same path,
  a row that changes nothing, duplicate campaigns;
* pydantic's errors translated into plain words.

Nothing here raises on bad cell text: any cell yields a value or a rule it breaks.  Converters are
built once per column, and each keeps a small cache from cell text to result, because sheets repeat
the same values row after row.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, TypeAdapter, ValidationError

from bulkpatch.columns import (
    CHANGE_PATHS,
    EXPECT_PATHS,
    FULL_REPLACEMENT_OBJECTS,
    KEY_COLUMNS,
    FieldSpec,
    classify_header,
)
from bulkpatch.models import DAYS, ID_PATTERN, DayList, is_valid_id
from bulkpatch.rows import CampaignKey, Problem, RowChange, RowVerdict
from bulkpatch.sheet import DEFAULT_BATCH_SIZE, Sheet, SheetKind, open_sheet
from bulkpatch.text import shorten

__all__ = [
    "RowValidator",
    "SheetCheck",
    "check_header",
    "check_sheet",
    "iter_verdicts",
    "no_read_problems",
    "normalise_days",
    "shorten",
    "validate_row",
]

#: Distinct cell texts remembered per column before the cache starts over.
CACHE_SIZE = 4096
#: Rule problems listed per cell at most (a broken JSON object can break many rules at once).
MAX_RULES_PER_CELL = 8

_Loc = tuple[str | int, ...]

# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _format_loc(loc: _Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _format_rows(rows: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(r) for r in rows[:limit])
    if len(rows) > limit:
        shown += f" and {len(rows) - limit:,} more"
    return shown


class _Invalid(Exception):
    """Internal: a value breaks rules.  ``errors`` are (location inside the value, message)."""

    def __init__(self, errors: list[tuple[_Loc, str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _rules(errors: Iterable[tuple[_Loc, str]]) -> tuple[str, ...]:
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

_PATTERN_WORDS = {
    ID_PATTERN: "must be 1-128 characters, each a letter, digit, - or _",
    "^[A-Za-z0-9 _-]+$": "may hold only letters, digits, spaces, - and _",
}
_DAY_WORDS = "use Monday ... Sunday, or Mon ... Sun"
_ISO_EXAMPLE = "2025-01-31T18:00:00+05:30"


def _is_branch_tag(part: str | int) -> bool:
    # pydantic names union branches and validator wrappers in ``loc``; our keys are identifiers.
    return isinstance(part, str) and not part.isidentifier()


def _translate(error: Mapping[str, Any]) -> tuple[_Loc, str]:
    """One pydantic error -> (location, message in plain words)."""
    loc: _Loc = tuple(p for p in error.get("loc", ()) if not _is_branch_tag(p))
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
        message = _PATTERN_WORDS.get(pattern, f"must match the pattern {pattern}")
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
        message = (
            f"has no time zone: add Z or an offset such as +05:30 (for example {_ISO_EXAMPLE})"
        )
    elif kind.startswith(("datetime", "date_")):
        message = f"must be an ISO 8601 date and time with a time zone, for example {_ISO_EXAMPLE}"
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


def _errors_of(exc: ValidationError) -> list[tuple[_Loc, str]]:
    return [_translate(e) for e in exc.errors(include_url=False)]


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


# ---------------------------------------------------------------------------------------------
# Checking one value against one annotation (JSON-typed or native input, no CSV text rules)
# ---------------------------------------------------------------------------------------------

_Check = Callable[[Any], Any]


def _strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_arms(annotation: Any) -> tuple[Any, ...] | None:
    bare = _strip_annotated(annotation)
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        return typing.get_args(bare)
    return None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    bare = _strip_annotated(annotation)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return bare
    return None


def _shape(annotation: Any) -> Literal["list", "object", "scalar"]:
    bare = _strip_annotated(annotation)
    origin = typing.get_origin(bare) or bare
    if origin is list:
        return "list"
    if origin is dict or _model_of(bare) is not None:
        return "object"
    return "scalar"


def _input_shape(value: Any) -> Literal["list", "object", "scalar"]:
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "scalar"


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return False


def _is_days(annotation: Any) -> bool:
    try:
        return bool(annotation == DayList)
    except Exception:  # pragma: no cover - exotic annotations without a safe ==
        return False


def _leaf_check(annotation: Any) -> _Check:
    """Validate with a ``TypeAdapter`` built once; return the JSON-ready value."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    days = _is_days(annotation)

    def check(value: Any) -> Any:
        if days:
            value = normalise_days(value)
        try:
            validated = adapter.validate_python(value)
        except ValidationError as exc:
            raise _Invalid(_errors_of(exc)) from None
        result = adapter.dump_python(validated, mode="json", exclude_unset=True)
        if _non_finite(result):
            raise _Invalid([((), "must be a finite number")])
        return result

    return check


def _union_check(annotation: Any, arms: tuple[Any, ...], partial: bool) -> _Check:
    """A union: pick the arm that fits the input's shape, so the message fits the input."""
    allows_none = type(None) in arms
    real = [a for a in arms if a is not type(None)]
    checks = [(_shape(a), _build_check(a, partial=partial)) for a in real]
    whole = _leaf_check(annotation)

    def check(value: Any) -> Any:
        if value is None:
            if allows_none:
                return None
            return whole(value)
        shape = _input_shape(value)
        fitting = [c for s, c in checks if s == shape]
        if len(fitting) == 1:
            return fitting[0](value)
        if not fitting:
            return checks[0][1](value)
        return whole(value)

    return check


class _PartialModel:
    """An object checked key by key: every key given must be known and valid; none is required."""

    def __init__(self, model: type[BaseModel]) -> None:
        self.model = model
        self.fields = model.model_fields
        self._checks: dict[str, _Check] = {}

    def _check_for(self, key: str) -> _Check:
        check = self._checks.get(key)
        if check is None:
            check = _build_check(self.fields[key].rebuild_annotation(), partial=True)
            self._checks[key] = check
        return check

    def __call__(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        if value is None:
            raise _Invalid([((), "must not be null: leave it out to keep the current value")])
        if not isinstance(value, dict):
            raise _Invalid([((), 'must be an object (in CSV: JSON text such as {"key": "value"})')])
        out: dict[str, Any] = {}
        errors: list[tuple[_Loc, str]] = []
        for key, item in value.items():
            if not isinstance(key, str) or key not in self.fields:
                close = difflib.get_close_matches(str(key), list(self.fields), n=1, cutoff=0.6)
                if close:
                    hint = f" — did you mean `{close[0]}`?"
                else:
                    hint = f" (known keys: {', '.join(self.fields)})"
                errors.append(((), f"unknown key `{shorten(key, 30)}`{hint}"))
                continue
            try:
                out[key] = self._check_for(key)(item)
            except _Invalid as exc:
                errors.extend(((key, *loc), message) for loc, message in exc.errors)
        if errors:
            raise _Invalid(errors)
        return out


def _build_check(annotation: Any, *, partial: bool) -> _Check:
    arms = _union_arms(annotation)
    if arms is not None:
        return _union_check(annotation, arms, partial)
    model = _model_of(annotation)
    if model is not None and partial:
        return _PartialModel(model)
    return _leaf_check(annotation)


# ---------------------------------------------------------------------------------------------
# A column's converter: cell (CSV text or native value) -> JSON-ready value or rules
# ---------------------------------------------------------------------------------------------

_TextMode = Literal["text", "scalar", "json", "json_or_scalar", "datetime", "days"]
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")

#: Example JSON per column kind, for the "not valid JSON" message.
_JSON_EXAMPLES: dict[str, str] = {
    "allowed_schedule": '{"allowed_start_time": "10:00", "allowed_end_time": "19:00"}',
    "allowed_schedule.allowed_days": '["Monday", "Tuesday"] (or Mon,Tue)',
    "app_config": '{"app_version": 7}',
    "app_config.connection_configs": (
        '[{"connection_id": "c1", "phone_numbers": ["+919812345678"], "weight": 1}]'
    ),
    "app_config.retry_config": '{"max_retries": 3, "retry_interval_minutes": [5, 10]}',
    "app_config.webhook_config": '{"url": "https://example.com/hook"}',
    "app_config.webhook_config.metadata": '{"team": "sales"}',
}


def _text_mode(annotation: Any) -> _TextMode:
    if _is_days(annotation):
        return "days"
    arms = _union_arms(annotation)
    if arms is not None:
        shapes = {_shape(a) for a in arms if a is not type(None)}
        if shapes == {"scalar"}:
            return "scalar"
        return "json" if "scalar" not in shapes else "json_or_scalar"
    if _shape(annotation) != "scalar":
        return "json"
    bare = _strip_annotated(annotation)
    if bare is AwareDatetime or (isinstance(bare, type) and issubclass(bare, datetime)):
        return "datetime"
    if bare in (int, float, bool):
        return "scalar"
    return "text"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _parse_json(text: str, path: str) -> Any:
    try:
        return json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except json.JSONDecodeError as exc:
        example = _JSON_EXAMPLES.get(path)
        hint = f"; for example {example}" if example else ""
        raise _Invalid(
            [((), f"is not valid JSON ({exc.msg} at character {exc.pos + 1}){hint}")]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise _Invalid([((), f"is not valid JSON: {exc}")]) from None


def _copy(value: Any) -> Any:
    """Cached results are shared; hand each row its own lists and dicts."""
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _copier(value: Any) -> Callable[[Any], Any] | None:
    """How to give each row its own copy of a shared, cached value (None: immutable)."""
    if isinstance(value, list):
        if all(not isinstance(v, list | dict) for v in value):
            return list.copy
        return _copy
    if isinstance(value, dict):
        return _copy
    return None


#: A converted cell: (JSON-ready value, rules broken, how to copy the value or None).
_Converted = tuple[Any, tuple[str, ...], Callable[[Any], Any] | None]


class ColumnConverter:
    """Turns one column's cells into JSON-ready values, or the rules they break.

    Built once per column; remembers up to :data:`CACHE_SIZE` distinct cell texts.
    """

    def __init__(self, path: str, spec: FieldSpec) -> None:
        self.path = path
        self.object = spec.is_object
        self.mode: _TextMode = _text_mode(spec.annotation)
        self._check = _build_check(spec.annotation, partial=True)
        #: cell text -> converted; read directly by :class:`RowValidator`'s fast path.
        self.cache: dict[str, _Converted] = {}

    def __call__(self, cell: Any) -> tuple[Any, tuple[str, ...]]:
        """``(value, ())`` for a good cell, ``(None, rules)`` for a bad one."""
        if type(cell) is str:
            hit = self.cache.get(cell)
            if hit is None:
                hit = self._convert(cell)
                if len(self.cache) >= CACHE_SIZE:
                    self.cache.clear()
                self.cache[cell] = hit
            value, rules, copy = hit
            return (value if copy is None else copy(value)), rules
        value, rules, _ = self._convert(cell)
        return value, rules

    def _convert(self, cell: Any) -> _Converted:
        try:
            value = self._check(self._from_text(cell) if isinstance(cell, str) else cell)
        except _Invalid as exc:
            return None, _rules(exc.errors), None
        except Exception as exc:  # a converter must never let a cell crash the run
            return None, (f"cannot be read: {type(exc).__name__}",), None
        if self.object and value == {}:
            return None, ("is an empty object, which changes nothing",), None
        return value, (), _copier(value)

    def _from_text(self, text: str) -> Any:
        mode = self.mode
        if mode in ("text", "scalar"):
            return text
        if mode == "datetime":
            if _NUMBER_TEXT.fullmatch(text):
                raise _Invalid(
                    [
                        (
                            (),
                            "must be an ISO 8601 date and time with a time zone, "
                            f"for example {_ISO_EXAMPLE}",
                        )
                    ]
                )
            return text
        if mode == "days":
            return _parse_json(text, self.path) if text.startswith("[") else text
        if mode == "json_or_scalar" and not text.startswith(("[", "{")):
            return text
        return _parse_json(text, self.path)


# ---------------------------------------------------------------------------------------------
# The header
# ---------------------------------------------------------------------------------------------


def _key_rule(column: str) -> str:
    return f"{_PATTERN_WORDS[ID_PATTERN]} (the {column} goes into the URL path)"


def check_header(
    columns: Sequence[str], *, org: str | None = None, workspace: str | None = None
) -> list[Problem]:
    """Problems with the sheet as a whole (row 0): unknown, repeated or missing columns."""
    header, found = classify_header(list(columns))
    known = header.keys or header.changes or header.expects or header.notes
    problems: list[Problem] = []
    if not known and len(columns) == 1 and any(sep in columns[0] for sep in ";\t|"):
        sep = next(s for s in ";\t|" if s in columns[0])
        shown = {"\t": "tabs", ";": "semicolons", "|": "pipes"}[sep]
        problems.append(
            Problem(
                0,
                columns[0],
                shorten(columns[0]),
                f"the header is a single column separated by {shown}: "
                "bulkpatch reads comma-separated CSV; save the sheet with commas",
            )
        )
        return problems
    if not known and columns:
        problems.append(
            Problem(
                0,
                "",
                shorten(",".join(columns)),
                "the first line names no known column, so the sheet seems to have no header: "
                "the first line must name the columns (campaign_id, org_id, workspace_id, "
                "and the fields to change)",
            )
        )
        return problems
    problems.extend(Problem(0, p.column, "", p.message) for p in found)
    defaults = {"org_id": ("--org", org), "workspace_id": ("--workspace", workspace)}
    for column in KEY_COLUMNS:
        if column in header.keys:
            continue
        if column == "campaign_id":
            problems.append(
                Problem(0, column, "", "no `campaign_id` column: every row must name its campaign")
            )
            continue
        flag, default = defaults[column]
        if default is None:
            problems.append(
                Problem(0, column, "", f"no `{column}` column and no {flag}: add one or the other")
            )
    for column, (flag, default) in defaults.items():
        if default is not None and not is_valid_id(default):
            problems.append(Problem(0, flag, shorten(default), _key_rule(column)))
    if not header.changes:
        problems.append(
            Problem(
                0,
                "",
                "",
                "no change column: add at least one column naming a field to change "
                "(for example `allowed_schedule.allowed_days`); see `bulkpatch validate --help`",
            )
        )
    return problems


# ---------------------------------------------------------------------------------------------
# One row
# ---------------------------------------------------------------------------------------------

_START = "allowed_schedule.allowed_start_time"
_END = "allowed_schedule.allowed_end_time"


def _leaf_paths(path: str, value: Any) -> list[str]:
    """The dotted paths a change sets: an object sets each of its keys (recursively)."""
    spec = CHANGE_PATHS.get(path)
    if spec is not None and spec.is_object and isinstance(value, dict) and value:
        out: list[str] = []
        for key, item in value.items():
            out.extend(_leaf_paths(f"{path}.{key}", item))
        return out
    return [path]


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class RowValidator:
    """Validates rows of one sheet: converters are built once, from the header.

    Header problems are not repeated per row; get them from :attr:`header_problems`.
    """

    def __init__(
        self,
        columns: Sequence[str],
        *,
        org: str | None = None,
        workspace: str | None = None,
        copy_values: bool = True,
    ) -> None:
        self.columns = tuple(columns)
        self.header, _ = classify_header(list(columns))
        self.header_problems = check_header(columns, org=org, workspace=workspace)
        self._defaults: dict[str, str | None] = {
            "org_id": org if org is not None and is_valid_id(org) else None,
            "workspace_id": workspace if workspace is not None and is_valid_id(workspace) else None,
            "campaign_id": None,
        }
        # A key with neither a column nor a default is reported once, in the header.
        self._key_columns = tuple(c for c in KEY_COLUMNS if c in self.header.keys)
        self._key_fixed = {c: self._defaults[c] for c in KEY_COLUMNS if c not in self.header.keys}
        self._org_default = self._defaults["org_id"]
        self._workspace_default = self._defaults["workspace_id"]
        #: org and workspace ids seen valid (they repeat row after row).
        self._good_scopes: set[Any] = set()
        #: Hand each row its own copy of list and object values (False when they are dropped).
        self.copy_values = copy_values
        converters = [ColumnConverter(c, CHANGE_PATHS[c]) for c in self.header.changes]
        self._changes = [(conv.path, conv, conv.cache) for conv in converters]
        self._expects = [
            (column, path, ColumnConverter(path, EXPECT_PATHS[path]))
            for column, path in self.header.expects.items()
        ]
        paths = list(self.header.changes)
        self._overlapping = [
            (a, b)
            for i, a in enumerate(paths)
            for b in paths[i + 1 :]
            if b.startswith(a + ".") or a.startswith(b + ".")
        ]
        self._schedule_check = any(
            p in (_START, _END, "allowed_schedule") for p in self.header.changes
        )
        self._seen_ids: dict[str, dict[str, bool]] = {"org_id": {}, "workspace_id": {}}

    # -- keys ------------------------------------------------------------------------------

    def _key_part(
        self, row: int, cells: Mapping[str, Any], column: str, problems: list[Problem]
    ) -> str | None:
        value = cells.get(column)
        if value is None or value == "":
            default = self._defaults[column]
            if default is not None:
                return default
            flag = {"org_id": " and no --org", "workspace_id": " and no --workspace"}.get(
                column, ""
            )
            problems.append(Problem(row, column, "", f"is empty{flag}: every row needs a {column}"))
            return None
        if type(value) is not str:
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            else:
                problems.append(Problem(row, column, shorten(value), "must be text"))
                return None
        seen = self._seen_ids.get(column)
        if seen is not None:  # org and workspace ids repeat: remember the verdict
            ok = seen.get(value)
            if ok is None:
                ok = is_valid_id(value)
                if len(seen) >= CACHE_SIZE:
                    seen.clear()
                seen[value] = ok
        else:
            ok = is_valid_id(value)
        if not ok:
            problems.append(Problem(row, column, shorten(value), _key_rule(column)))
            return None
        return value

    def _key(
        self, row: int, cells: Mapping[str, Any], problems: list[Problem]
    ) -> tuple[str, str, str] | None:
        parts: dict[str, str | None] = dict(self._key_fixed)
        for column in self._key_columns:
            parts[column] = self._key_part(row, cells, column, problems)
        org, workspace, campaign = parts["org_id"], parts["workspace_id"], parts["campaign_id"]
        if org is None or workspace is None or campaign is None:
            return None
        good = self._good_scopes
        if len(good) >= CACHE_SIZE:
            good.clear()
        good.add(org)
        good.add(workspace)
        return org, workspace, campaign

    # -- the row ---------------------------------------------------------------------------

    def validate(self, row: int, cells: Mapping[str, Any]) -> RowVerdict:
        """Check one row.  Never raises for any cell content."""
        ids, problems, changes, expects = self.examine(row, cells)
        key = CampaignKey(*ids) if ids is not None else None
        if problems or key is None:
            # No key and no problem: the header lacks a key column (reported once, as a
            # sheet problem).
            return RowVerdict(row=row, key=key, change=None, problems=tuple(problems))
        change = RowChange(row=row, key=key, changes=changes, expects=expects)
        return RowVerdict(row=row, key=key, change=change)

    def examine(
        self, row: int, cells: Mapping[str, Any]
    ) -> tuple[tuple[str, str, str] | None, list[Problem], dict[str, Any], dict[str, Any]]:
        """The parts of a verdict without building it: ``(ids, problems, changes, expects)``.

        ``ids`` is ``(org_id, workspace_id, campaign_id)`` when all three are valid.  Used where a
        million verdicts would be built only to be dropped.
        """
        problems: list[Problem] = []
        get = cells.get
        # The common case first: ids already seen valid, a campaign id that matches.
        org = get("org_id") or self._org_default
        workspace = get("workspace_id") or self._workspace_default
        campaign = get("campaign_id")
        good = self._good_scopes
        key: tuple[str, str, str] | None
        if (
            type(org) is str
            and type(workspace) is str
            and type(campaign) is str
            and org in good
            and workspace in good
            and is_valid_id(campaign)
        ):
            key = (org, workspace, campaign)
        else:
            key = self._key(row, cells, problems)
        changes: dict[str, Any] = {}
        bad_cells = False
        copy_values = self.copy_values
        for column, convert, cache in self._changes:
            cell = get(column)
            if cell is None:
                continue
            hit = cache.get(cell) if type(cell) is str else None
            if hit is not None and not hit[1]:
                value, _, copy = hit
                changes[column] = value if copy is None or not copy_values else copy(value)
                continue
            value, rules = convert(cell)
            if rules:
                bad_cells = True
                shown = shorten(cell)
                problems.extend(Problem(row, column, shown, rule) for rule in rules)
            else:
                changes[column] = value
        expects: dict[str, Any] = {}
        for column, path, convert in self._expects:
            cell = get(column)
            if cell is None:
                continue
            value, rules = convert(cell)
            if rules:
                shown = shorten(cell)
                problems.extend(Problem(row, column, shown, rule) for rule in rules)
            else:
                expects[path] = value
        if not changes:
            if not bad_cells and self._changes:
                problems.append(
                    Problem(
                        row, "", "", "changes nothing: every change column of this row is empty"
                    )
                )
        else:
            if self._overlapping and len(changes) > 1:
                self._check_overlaps(row, changes, problems)
            if self._schedule_check:
                self._check_window(row, changes, problems)
        return key, problems, changes, expects

    def _check_overlaps(self, row: int, changes: dict[str, Any], problems: list[Problem]) -> None:
        for a, b in self._overlapping:
            if a not in changes or b not in changes:
                continue
            outer, inner = (a, b) if b.startswith(a + ".") else (b, a)
            inner_paths = _leaf_paths(inner, changes[inner])
            for path in _leaf_paths(outer, changes[outer]):
                clash = next((p for p in inner_paths if _overlap(p, path)), None)
                if clash is not None:
                    problems.append(
                        Problem(
                            row,
                            inner,
                            shorten(changes[inner]),
                            f"sets `{clash}`, which column `{outer}` also sets in this row: "
                            "keep one of them",
                        )
                    )
                    break

    def _check_window(self, row: int, changes: dict[str, Any], problems: list[Problem]) -> None:
        start = changes.get(_START)
        end = changes.get(_END)
        schedule = changes.get("allowed_schedule")
        if type(schedule) is dict:
            if start is None:
                start = schedule.get("allowed_start_time")
            if end is None:
                end = schedule.get("allowed_end_time")
        if type(start) is not str or type(end) is not str or start < end:
            return
        if _END in changes:
            column = _END
        elif type(schedule) is dict and "allowed_end_time" in schedule:
            column = "allowed_schedule"
        else:
            column = _START
        problems.append(
            Problem(
                row,
                column,
                f"{start} to {end}",
                f"allowed_start_time {start} must be before allowed_end_time {end}",
            )
        )


_VALIDATORS: dict[tuple[tuple[str, ...], str | None, str | None], RowValidator] = {}


def validate_row(
    row: int,
    cells: Mapping[str, Any],
    *,
    org: str | None = None,
    workspace: str | None = None,
) -> RowVerdict:
    """Validate one row on its own: ``cells`` maps column names to cell values.

    Problems with the columns themselves (unknown names, a missing key column) are reported
    against this row.  For many rows of one sheet, build a :class:`RowValidator` once instead.
    """
    columns = tuple(cells)
    cache_key = (columns, org, workspace)
    validator = _VALIDATORS.get(cache_key)
    if validator is None:
        if len(_VALIDATORS) >= 64:
            _VALIDATORS.clear()
        validator = _VALIDATORS[cache_key] = RowValidator(columns, org=org, workspace=workspace)
    verdict = validator.validate(row, cells)
    if not validator.header_problems:
        return verdict
    moved = tuple(Problem(row, p.column, p.value, p.rule) for p in validator.header_problems)
    return RowVerdict(row=row, key=verdict.key, change=None, problems=moved + verdict.problems)


# ---------------------------------------------------------------------------------------------
# --no-read
# ---------------------------------------------------------------------------------------------

_FULL_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def no_read_problems(change: RowChange) -> list[Problem]:
    """Why this row cannot be applied without GETting the campaign first (``--no-read``).

    Without the current campaign only top-level fields and whole objects can be sent, a whole
    ``allowed_schedule`` / ``app_config`` must then be complete (it replaces the stored one), and
    ``expect.`` guards cannot be checked.  An empty list means the row can go without a GET.
    """
    problems: list[Problem] = []
    for path, value in change.changes.items():
        spec = CHANGE_PATHS.get(path)
        top = path.split(".", 1)[0]
        if spec is None or not spec.top_level:
            problems.append(
                Problem(
                    change.row,
                    path,
                    shorten(value),
                    f"--no-read sends whole objects only: `{path}` changes part of `{top}`, "
                    f"which needs the current `{top}` (drop --no-read, or give the whole "
                    f"`{top}` in one column)",
                )
            )
            continue
        if path in FULL_REPLACEMENT_OBJECTS and spec.model is not None:
            adapter = _FULL_ADAPTERS.get(path)
            if adapter is None:
                adapter = _FULL_ADAPTERS[path] = TypeAdapter(spec.model)
            try:
                adapter.validate_python(value)
            except ValidationError as exc:
                for rule in _rules(_errors_of(exc)):
                    problems.append(
                        Problem(
                            change.row,
                            path,
                            shorten(value),
                            f"with --no-read the whole `{path}` is sent as given and replaces "
                            f"the stored one, so it must be complete: {rule}",
                        )
                    )
    for path in change.expects:
        problems.append(
            Problem(
                change.row,
                f"expect.{path}",
                shorten(change.expects[path]),
                "an expect. guard needs the current campaign, which --no-read does not fetch",
            )
        )
    return problems


# ---------------------------------------------------------------------------------------------
# The whole sheet
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class SheetCheck:
    """What :func:`check_sheet` found: counts, and every problem with the sheet and its rows."""

    path: Path
    kind: SheetKind
    columns: tuple[str, ...]
    #: Data rows checked (blank rows are not counted).
    rows: int
    #: Problems with the sheet as a whole (row 0): header, defaults, no data rows.
    header_problems: list[Problem]
    #: Every row problem, duplicates included, in row order.
    problems: list[Problem]
    #: Rows that must not be applied.
    invalid_rows: frozenset[int]
    #: Rows skipped because every cell was empty.
    blank_rows: int = 0
    #: The number of the sheet's last row (blank or not), and the blank rows' numbers: the
    #: streaming pass yields every row in 1..last_row but those.
    last_row: int = 0
    blank_row_numbers: frozenset[int] = frozenset()
    #: With ``collect_keys``: every row's campaign (valid ids) and its guards, in sheet order.
    keys: list[tuple[CampaignKey, dict[str, Any]]] = field(default_factory=list)
    #: With ``no_read``: why valid rows cannot be sent without a GET (the first 50), and how
    #: many rows have such a problem.
    no_read_problems: list[Problem] = field(default_factory=list)
    no_read_rows: int = 0
    _by_row: dict[int, list[Problem]] | None = field(default=None, repr=False)

    @property
    def valid_rows(self) -> int:
        return self.rows - len(self.invalid_rows)

    @property
    def ok(self) -> bool:
        """True when the sheet may be run as it is: no sheet problem and no invalid row."""
        return not self.header_problems and not self.invalid_rows

    def problems_of(self, row: int) -> list[Problem]:
        """The problems of one row."""
        if self._by_row is None:
            by_row: dict[int, list[Problem]] = {}
            for problem in self.problems:
                by_row.setdefault(problem.row, []).append(problem)
            self._by_row = by_row
        return self._by_row.get(row, [])

    def summary(self) -> str:
        """One line: ``1,000 rows: 998 valid, 2 invalid``."""
        noun = "row" if self.rows == 1 else "rows"
        invalid = len(self.invalid_rows)
        if self.header_problems:
            count = len(self.header_problems)
            return (
                f"{self.rows:,} {noun}: {invalid:,} invalid, and {count:,} sheet "
                f"problem{'s' if count != 1 else ''} that stop{'s' if count == 1 else ''} "
                "the whole sheet"
            )
        return f"{self.rows:,} {noun}: {self.valid_rows:,} valid, {invalid:,} invalid"


def _duplicate_rule(key: CampaignKey, rows: Sequence[int]) -> str:
    where = "row" if len(rows) == 1 else "rows"
    return (
        f"the same campaign ({key}) is also in {where} {_format_rows(rows)}: "
        "each campaign may appear once in a sheet"
    )


def check_sheet(
    source: str | Path | Sheet,
    *,
    fmt: SheetKind | None = None,
    org: str | None = None,
    workspace: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
    no_read: bool = False,
    collect_keys: bool = False,
) -> SheetCheck:
    """Read and check every row of a sheet, offline.

    The same pass also finds, with ``no_read``, why valid rows cannot go without a GET
    (:attr:`SheetCheck.no_read_problems`) and, with ``collect_keys``, every row's campaign and
    guards (:attr:`SheetCheck.keys`, to seed the in-process simulator).

    Raises :class:`~bulkpatch.sheet.SheetError` when the file cannot be read; every problem with
    its content is data in the returned :class:`SheetCheck`.  ``progress`` is called after each
    batch with the number of rows checked so far.
    """
    sheet = source if isinstance(source, Sheet) else open_sheet(source, fmt=fmt)
    validator = RowValidator(sheet.columns, org=org, workspace=workspace, copy_values=False)
    problems: list[Problem] = []
    invalid: set[int] = set()
    # (org, workspace) -> campaign -> first row: small keys so a million rows stay cheap.
    seen: dict[tuple[str, str], dict[str, int]] = {}
    repeats: dict[int, list[int]] = {}
    keys_of_first: dict[int, CampaignKey] = {}
    examine = validator.examine
    rows = 0
    last_row = 0
    blanks: list[int] = []
    keys: list[tuple[CampaignKey, dict[str, Any]]] = []
    no_read_found: list[Problem] = []
    no_read_count = 0
    next_report = batch_size
    for row, cells in sheet.iter_rows(batch_size):
        rows += 1
        if row != last_row + 1:
            blanks.extend(range(last_row + 1, row))
        last_row = row
        ids, found, row_changes, row_expects = examine(row, cells)
        if found:
            problems.extend(found)
            invalid.add(row)
        if collect_keys and ids is not None:
            keys.append((CampaignKey(*ids), dict(row_expects) if not found else {}))
        if no_read and not found and ids is not None:
            blocking = no_read_problems(
                RowChange(row=row, key=CampaignKey(*ids), changes=row_changes, expects=row_expects)
            )
            if blocking:
                no_read_count += 1
                if len(no_read_found) < 50:
                    no_read_found.extend(blocking)
        if ids is not None:
            scope = (ids[0], ids[1])
            campaigns = seen.get(scope)
            if campaigns is None:
                campaigns = seen[scope] = {}
            first = campaigns.setdefault(ids[2], row)
            if first != row:
                key = CampaignKey(*ids)
                problems.append(
                    Problem(
                        row, "campaign_id", shorten(key.campaign_id), _duplicate_rule(key, [first])
                    )
                )
                invalid.add(row)
                invalid.add(first)
                repeats.setdefault(first, []).append(row)
                keys_of_first.setdefault(first, key)
        if progress is not None and rows >= next_report:
            progress(rows)
            next_report += batch_size
    if progress is not None:
        progress(rows)
    for first, later in repeats.items():
        key = keys_of_first[first]
        problems.append(
            Problem(first, "campaign_id", shorten(key.campaign_id), _duplicate_rule(key, later))
        )
    problems.sort(key=lambda p: p.row)
    header_problems = list(validator.header_problems)
    if rows == 0:
        header_problems.append(
            Problem(0, "", "", "the sheet has a header but no data rows: nothing to do")
        )
    return SheetCheck(
        path=sheet.path,
        kind=sheet.kind,
        columns=sheet.columns,
        rows=rows,
        header_problems=header_problems,
        problems=problems,
        invalid_rows=frozenset(invalid),
        blank_rows=last_row - rows,
        last_row=last_row,
        blank_row_numbers=frozenset(blanks),
        keys=keys,
        no_read_problems=no_read_found,
        no_read_rows=no_read_count,
    )


def iter_verdicts(
    sheet: Sheet,
    *,
    org: str | None = None,
    workspace: str | None = None,
    check: SheetCheck | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[RowVerdict]:
    """Stream a verdict per row, in order (the run engine's second pass).

    A row's own problems are found here; problems that span rows (duplicates) are known only
    after the whole sheet, from :func:`check_sheet`.  Pass that ``check`` to have them merged in:
    a row in ``check.invalid_rows`` then never comes out valid.
    """
    validator = RowValidator(sheet.columns, org=org, workspace=workspace)
    for row, cells in sheet.iter_rows(batch_size):
        verdict = validator.validate(row, cells)
        if check is not None and verdict.ok and row in check.invalid_rows:
            verdict = RowVerdict(
                row=row,
                key=verdict.key,
                change=None,
                problems=tuple(check.problems_of(row))
                or (Problem(row, "", "", "marked invalid by the sheet check"),),
            )
        yield verdict
