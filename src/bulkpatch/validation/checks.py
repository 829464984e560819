"""Checking one value against one annotation of :mod:`bulkpatch.core.models` (JSON-typed or native
input; no CSV text rules): a leaf through a ``TypeAdapter`` built once, a union by the arm that
fits the input's shape, a whole object *partially* (every key given must be known and valid;
none is required, keys not given are kept as they are).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter, ValidationError

from bulkpatch.core.columns import is_days, model_of, shape_of, union_arms
from bulkpatch.core.text import shorten
from bulkpatch.validation.days import normalise_days
from bulkpatch.validation.words import Invalid, Loc, errors_of

# ---------------------------------------------------------------------------------------------
# Checking one value against one annotation (JSON-typed or native input, no CSV text rules)
# ---------------------------------------------------------------------------------------------

Check = Callable[[Any], Any]


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


def _leaf_check(annotation: Any) -> Check:
    """Validate with a ``TypeAdapter`` built once; return the JSON-ready value."""
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    days = is_days(annotation)

    def check(value: Any) -> Any:
        if days:
            value = normalise_days(value)
        try:
            validated = adapter.validate_python(value)
        except ValidationError as exc:
            raise Invalid(errors_of(exc)) from None
        result = adapter.dump_python(validated, mode="json", exclude_unset=True)
        if _non_finite(result):
            raise Invalid([((), "must be a finite number")])
        return result

    return check


def _union_check(annotation: Any, arms: tuple[Any, ...], partial: bool) -> Check:
    """A union: pick the arm that fits the input's shape, so the message fits the input."""
    allows_none = type(None) in arms
    real = [a for a in arms if a is not type(None)]
    checks = [(shape_of(a), build_check(a, partial=partial)) for a in real]
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
        self._checks: dict[str, Check] = {}

    def _check_for(self, key: str) -> Check:
        check = self._checks.get(key)
        if check is None:
            check = build_check(self.fields[key].rebuild_annotation(), partial=True)
            self._checks[key] = check
        return check

    def __call__(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            value = value.model_dump(exclude_unset=True)
        if value is None:
            raise Invalid([((), "must not be null: leave it out to keep the current value")])
        if not isinstance(value, dict):
            raise Invalid([((), 'must be an object (in CSV: JSON text such as {"key": "value"})')])
        out: dict[str, Any] = {}
        errors: list[tuple[Loc, str]] = []
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
            except Invalid as exc:
                errors.extend(((key, *loc), message) for loc, message in exc.errors)
        if errors:
            raise Invalid(errors)
        return out


def build_check(annotation: Any, *, partial: bool) -> Check:
    arms = union_arms(annotation)
    if arms is not None:
        return _union_check(annotation, arms, partial)
    model = model_of(annotation)
    if model is not None and partial:
        return _PartialModel(model)
    return _leaf_check(annotation)
