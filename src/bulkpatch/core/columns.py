"""The sheet's column grammar (docs/sheet.md), derived from the PATCH body model.

Every dotted path into :class:`~bulkpatch.core.models.UpdateCampaignRequest` is a valid change
column, whole objects included.  ``expect.<path>`` columns are guards, ``#``/``_`` columns are
notes, ``org_id``/``workspace_id``/``campaign_id`` are keys.  Anything else is refused with the
closest valid name.

Each change column's *kind* (how its cells are written, read, compared and exported) is derived
here from its annotation, never from its name: a new field of :mod:`bulkpatch.core.models` is a
column of the right kind with no other change (docs/architecture.md, "Adding a column kind").
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel

from bulkpatch.core.models import (
    CampaignStatus,
    DayList,
    Sheeted,
    SheetExample,
    UpdateCampaignRequest,
)

KEY_COLUMNS: tuple[str, ...] = ("org_id", "workspace_id", "campaign_id")
EXPECT_PREFIX = "expect."
NOTE_PREFIXES: tuple[str, ...] = ("#", "_")
#: Objects the API replaces whole: a change inside one means GET, merge, send the whole object.
FULL_REPLACEMENT_OBJECTS: tuple[str, ...] = ("allowed_schedule", "app_config")


#: How a column's cells are written, derived from its annotation (:func:`kind_of`): plain text;
#: a number or true/false (``scalar``); JSON text (``json``: lists and objects); either
#: (``json_or_scalar``: a number or a list of numbers); an ISO 8601 instant (``instant``, compared
#: as an instant); a list of days (``days``, also written ``Mon,Tue`` or ``Mon-Sat``).
ColumnKind = Literal["text", "scalar", "json", "json_or_scalar", "instant", "days"]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One dotted path of the PATCH body, and the kind of its column."""

    path: str
    #: The type a value at this path must have (for a pydantic ``TypeAdapter``).
    annotation: Any
    #: The model when the path holds an object (merged key by key), else None.
    model: type[BaseModel] | None = None
    #: How its cells are written; :func:`field_spec` derives it from the annotation.
    kind: ColumnKind = "text"
    #: A cell of this column as JSON text, for a message about JSON that cannot be read.
    example: str | None = None

    @property
    def is_object(self) -> bool:
        return self.model is not None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @property
    def top_level(self) -> bool:
        return "." not in self.path


# ---------------------------------------------------------------------------------------------
# Reading an annotation of core/models.py: the one place a column's kind is derived
# ---------------------------------------------------------------------------------------------


def strip_annotated(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def union_arms(annotation: Any) -> tuple[Any, ...] | None:
    bare = strip_annotated(annotation)
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        return typing.get_args(bare)
    return None


def model_of(annotation: Any) -> type[BaseModel] | None:
    bare = strip_annotated(annotation)
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return bare
    return None


def shape_of(annotation: Any) -> Literal["list", "object", "scalar"]:
    bare = strip_annotated(annotation)
    origin = typing.get_origin(bare) or bare
    if origin is list:
        return "list"
    if origin is dict or model_of(bare) is not None:
        return "object"
    return "scalar"


def is_days(annotation: Any) -> bool:
    try:
        return bool(annotation == DayList)
    except Exception:  # pragma: no cover - exotic annotations without a safe ==
        return False


def kind_of(annotation: Any) -> ColumnKind:
    """How the cells of a column holding ``annotation`` are written."""
    if is_days(annotation):
        return "days"
    arms = union_arms(annotation)
    if arms is not None:
        shapes = {shape_of(a) for a in arms if a is not type(None)}
        if shapes == {"scalar"}:
            return "scalar"
        return "json" if "scalar" not in shapes else "json_or_scalar"
    if shape_of(annotation) != "scalar":
        return "json"
    bare = strip_annotated(annotation)
    if bare is AwareDatetime or (isinstance(bare, type) and issubclass(bare, datetime)):
        return "instant"
    if bare in (int, float, bool):
        return "scalar"
    return "text"


def example_of(annotation: Any) -> str | None:
    """The :class:`~bulkpatch.core.models.SheetExample` a type declares, if any (a model's is
    its ``sheet_example``)."""
    if typing.get_origin(annotation) is Annotated:
        for extra in typing.get_args(annotation)[1:]:
            if isinstance(extra, SheetExample):
                return extra.text
    model = model_of(annotation)
    return model.sheet_example() if model is not None and issubclass(model, Sheeted) else None


def field_spec(path: str, annotation: Any, model: type[BaseModel] | None = None) -> FieldSpec:
    return FieldSpec(path, annotation, model, kind_of(annotation), example_of(annotation))


def _unwrap_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = tuple(a for a in typing.get_args(annotation) if a is not type(None))
        if len(args) == 1:
            return args[0]
        return typing.Union[args]  # noqa: UP007 - rebuilt at run time from a tuple
    return annotation


def change_paths(
    model: type[BaseModel] = UpdateCampaignRequest, prefix: str = ""
) -> dict[str, FieldSpec]:
    """Every dotted path into ``model``, objects and what they hold, in schema order."""
    specs: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = _unwrap_optional(info.rebuild_annotation())
        sub = model_of(annotation)
        specs[path] = field_spec(path, annotation, sub)
        if sub is not None:
            specs.update(change_paths(sub, f"{path}."))
    return specs


#: Every valid change path, in schema order.
CHANGE_PATHS: dict[str, FieldSpec] = change_paths()

#: Paths that may follow ``expect.``: every change path, plus the campaign's status and version.
EXPECT_PATHS: dict[str, FieldSpec] = {
    "status": field_spec("status", CampaignStatus),
    "updated_at": field_spec("updated_at", str),
    **CHANGE_PATHS,
}


def kind_at(path: str) -> ColumnKind | None:
    """The kind of the column ``path`` (or ``expect.path``); None for a path no column names."""
    spec = EXPECT_PATHS.get(path)
    return None if spec is None else spec.kind


def all_valid_columns() -> list[str]:
    return [
        *KEY_COLUMNS,
        *CHANGE_PATHS,
        *(EXPECT_PREFIX + path for path in EXPECT_PATHS),
    ]


def loose_name(name: str) -> str:
    """A name without the differences a person does not see or mean: case, spaces around dots,
    spaces or hyphens for underscores (``Org ID`` -> ``org_id``)."""
    lowered = _SPACE_AROUND_DOT.sub(".", name.strip().lower())
    return _SEPARATORS.sub("_", lowered)


_SPACE_AROUND_DOT = re.compile(r"\s*\.\s*")
_SEPARATORS = re.compile(r"[\s_-]+")


@lru_cache(maxsize=1)
def _loose_names() -> dict[str, str]:
    table: dict[str, str] = {}
    for candidate in all_valid_columns():
        table.setdefault(loose_name(candidate), candidate)
    return table


def suggest(column: str) -> str | None:
    """The closest valid column name to a misspelt one, if any is close."""
    candidates = all_valid_columns()
    # A slip of case or spacing is the commonest: ``Org_ID``, ``org id``, ``Allowed Days``.
    same = _loose_names().get(loose_name(column))
    if same is not None:
        return same
    lowered = column.strip().lower()
    # A bare inner name ("timezone") most likely meant its full path.
    tails = [c for c in CHANGE_PATHS if c.rsplit(".", 1)[-1] == lowered]
    if len(tails) == 1:
        return tails[0]
    close = difflib.get_close_matches(column, candidates, n=1, cutoff=0.6)
    if close:
        return close[0]
    # A misspelt bare inner name ("alowed_days"): match it against the last parts of the paths.
    by_tail: dict[str, list[str]] = {}
    for path in CHANGE_PATHS:
        by_tail.setdefault(path.rsplit(".", 1)[-1], []).append(path)
    near = difflib.get_close_matches(lowered, list(by_tail), n=1, cutoff=0.75)
    if near and len(by_tail[near[0]]) == 1:
        return by_tail[near[0]][0]
    return None


def invisible_characters(text: str) -> list[str]:
    """The invisible characters in a name (zero-width spaces, joiners, direction marks, a stray
    byte-order mark, control characters), each as ``U+200B ZERO WIDTH SPACE``."""
    found: list[str] = []
    for char in text:
        if unicodedata.category(char) in ("Cf", "Cc"):
            label = f"U+{ord(char):04X} {unicodedata.name(char, 'CONTROL CHARACTER')}"
            if label not in found:
                found.append(label)
    return found


def visible(text: str) -> str:
    """A name with its invisible characters shown as ``<U+200B>``."""
    return "".join(
        f"<U+{ord(c):04X}>" if unicodedata.category(c) in ("Cf", "Cc") else c for c in text
    )


def is_note(column: str) -> bool:
    return column.startswith(NOTE_PREFIXES)


@dataclass(frozen=True, slots=True)
class Header:
    """A sheet header, sorted into its kinds of column."""

    columns: tuple[str, ...]
    keys: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()
    #: column name -> guarded path (without the prefix)
    expects: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


HeaderProblemKind = Literal["unknown", "repeated", "unnamed", "invisible"]


@dataclass(frozen=True, slots=True)
class HeaderProblem:
    column: str
    message: str
    kind: HeaderProblemKind = "unknown"
    #: The valid name the user most likely meant, if any.
    hint: str | None = None


def _unknown(position: int, column: str) -> HeaderProblem:
    if not column:
        return HeaderProblem(
            column,
            f"column {position} has no name: name it, or delete the column",
            "unnamed",
        )
    hidden = invisible_characters(column)
    if hidden:
        cleaned = "".join(c for c in column if unicodedata.category(c) not in ("Cf", "Cc"))
        known = cleaned in CHANGE_PATHS or cleaned in KEY_COLUMNS or is_note(cleaned)
        known = known or (
            cleaned.startswith(EXPECT_PREFIX) and cleaned[len(EXPECT_PREFIX) :] in EXPECT_PATHS
        )
        hint = cleaned if known else suggest(cleaned)
        what = "an invisible character" if len(hidden) == 1 else "invisible characters"
        message = f"column `{visible(column)}` holds {what} ({', '.join(hidden)}): delete it"
        if hint is not None:
            message += (
                f"; without it the name is `{hint}`" if known else f" (did you mean `{hint}`?)"
            )
        return HeaderProblem(column, message, "invisible", hint)
    hint = suggest(column)
    message = f"unknown column `{column}`"
    if hint is not None:
        message += f" — did you mean `{hint}`?"
    else:
        message += " — see `bulkpatch validate --help` for the valid columns"
    return HeaderProblem(column, message, "unknown", hint)


def classify_header(columns: list[str]) -> tuple[Header, list[HeaderProblem]]:
    """Sort a header into key/change/expect/note columns; unknown or repeated names are problems."""
    keys: list[str] = []
    changes: list[str] = []
    expects: dict[str, str] = {}
    notes: list[str] = []
    problems: list[HeaderProblem] = []
    seen: set[str] = set()
    for position, column in enumerate(columns, start=1):
        if column in seen:
            if column:
                problems.append(
                    HeaderProblem(column, f"column `{column}` appears more than once", "repeated")
                )
            else:
                problems.append(_unknown(position, column))
            continue
        seen.add(column)
        if is_note(column):
            notes.append(column)
        elif column in KEY_COLUMNS:
            keys.append(column)
        elif column in CHANGE_PATHS:
            changes.append(column)
        elif column.startswith(EXPECT_PREFIX) and column[len(EXPECT_PREFIX) :] in EXPECT_PATHS:
            expects[column] = column[len(EXPECT_PREFIX) :]
        else:
            problems.append(_unknown(position, column))
    header = Header(
        columns=tuple(columns),
        keys=tuple(keys),
        changes=tuple(changes),
        expects=expects,
        notes=tuple(notes),
    )
    return header, problems
