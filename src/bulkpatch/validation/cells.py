"""A column's converter: a cell (CSV or Excel text, or a native Parquet value) -> a JSON-ready
value, or the rules it breaks.

Text is converted to what the column's type expects: numbers and ``true/false/yes/no/1/0`` as
text, JSON text for lists and objects, the ``allowed_days`` shorthand.  Converters are built once
per column, and each keeps a small cache from cell text to result, because sheets repeat the same
values row after row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from bulkpatch.core.columns import ColumnKind, FieldSpec
from bulkpatch.validation.checks import build_check
from bulkpatch.validation.words import CACHE_SIZE, ISO_EXAMPLE, Invalid, rules_of

# ---------------------------------------------------------------------------------------------
# A column's converter: cell (CSV text or native value) -> JSON-ready value or rules
# ---------------------------------------------------------------------------------------------

_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"the key {key!r} appears twice")
        out[key] = value
    return out


def _parse_json(text: str, example: str | None) -> Any:
    try:
        return json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except json.JSONDecodeError as exc:
        hint = f"; for example {example}" if example else ""
        raise Invalid(
            [((), f"is not valid JSON ({exc.msg} at character {exc.pos + 1}){hint}")]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise Invalid([((), f"is not valid JSON: {exc}")]) from None


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
        self.mode: ColumnKind = spec.kind
        self.example = spec.example
        self._check = build_check(spec.annotation, partial=True)
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
        except Invalid as exc:
            return None, rules_of(exc.errors), None
        except Exception as exc:  # a converter must never let a cell crash the run
            return None, (f"cannot be read: {type(exc).__name__}",), None
        if self.object and value == {}:
            return None, ("is an empty object, which changes nothing",), None
        return value, (), _copier(value)

    def _from_text(self, text: str) -> Any:
        mode = self.mode
        if mode in ("text", "scalar"):
            return text
        if mode == "instant":
            if _NUMBER_TEXT.fullmatch(text):
                raise Invalid(
                    [
                        (
                            (),
                            "must be an ISO 8601 date and time with a time zone, "
                            f"for example {ISO_EXAMPLE}",
                        )
                    ]
                )
            return text
        if mode == "days":
            return _parse_json(text, self.example) if text.startswith("[") else text
        if mode == "json_or_scalar" and not text.startswith(("[", "{")):
            return text
        return _parse_json(text, self.example)
