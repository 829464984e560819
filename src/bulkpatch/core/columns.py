"""The sheet's column grammar (docs/sheet.md), derived from the PATCH body model.

Every dotted path into :class:`~bulkpatch.core.models.UpdateCampaignRequest` is a valid change
column, whole objects included.  ``expect.<path>`` columns are guards, ``#``/``_`` columns are
notes, ``org_id``/``workspace_id``/``campaign_id`` are keys.  Anything else is refused with the
closest valid name.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel

from bulkpatch.core.models import CampaignStatus, UpdateCampaignRequest

KEY_COLUMNS: tuple[str, ...] = ("org_id", "workspace_id", "campaign_id")
EXPECT_PREFIX = "expect."
NOTE_PREFIXES: tuple[str, ...] = ("#", "_")
#: Objects the API replaces whole: a change inside one means GET, merge, send the whole object.
FULL_REPLACEMENT_OBJECTS: tuple[str, ...] = ("allowed_schedule", "app_config")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One dotted path of the PATCH body."""

    path: str
    #: The type a value at this path must have (for a pydantic ``TypeAdapter``).
    annotation: Any
    #: The model when the path holds an object (merged key by key), else None.
    model: type[BaseModel] | None = None

    @property
    def is_object(self) -> bool:
        return self.model is not None

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.path.split("."))

    @property
    def top_level(self) -> bool:
        return "." not in self.path


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = tuple(a for a in typing.get_args(annotation) if a is not type(None))
        if len(args) == 1:
            return args[0]
        return typing.Union[args]  # noqa: UP007 - rebuilt at run time from a tuple
    return annotation


def _as_model(annotation: Any) -> type[BaseModel] | None:
    inner = _unwrap_optional(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def _walk(model: type[BaseModel], prefix: str) -> dict[str, FieldSpec]:
    specs: dict[str, FieldSpec] = {}
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        annotation = _unwrap_optional(info.rebuild_annotation())
        sub = _as_model(annotation)
        specs[path] = FieldSpec(path=path, annotation=annotation, model=sub)
        if sub is not None:
            specs.update(_walk(sub, f"{path}."))
    return specs


#: Every valid change path, in schema order.
CHANGE_PATHS: dict[str, FieldSpec] = _walk(UpdateCampaignRequest, "")

#: Paths that may follow ``expect.``: every change path, plus the campaign's status and version.
EXPECT_PATHS: dict[str, FieldSpec] = {
    "status": FieldSpec(path="status", annotation=CampaignStatus),
    "updated_at": FieldSpec(path="updated_at", annotation=str),
    **CHANGE_PATHS,
}


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
