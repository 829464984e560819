"""A campaign's value as a sheet cell that bulkpatch reads back as exactly that value.

``export`` writes a campaign's current values, and ``undo`` its values before a run, as cells
of a sheet that is then run.  A cell is only useful if the sheet's grammar reads it back as the
very value it came from -- else an untouched exported sheet would change campaigns, or an undo
would write something else than what was there.  :func:`cell_for` renders a value
(text as it is, numbers as JSON, lists of days as ``Monday,Tuesday``, lists and objects as JSON)
and :func:`reads_back` checks it through the sheet's own column converters and comparison
(``bulkpatch.validation``, ``bulkpatch.core.values``).  A value that does not read back (a name with
spaces around it, a value the sheet rules refuse) gets no cell: an empty cell leaves the field as
it is, which is what an untouched row means.

Pure functions.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from bulkpatch.core.columns import CHANGE_PATHS, EXPECT_PATHS, kind_at
from bulkpatch.core.text import FORMULA_STARTS
from bulkpatch.core.values import MISSING, same_value
from bulkpatch.validation import ColumnConverter


def cell_for(path: str, value: Any) -> str | None:
    """The cell text for ``value`` at ``path`` (None: no value, an empty cell)."""
    if value is None or value is MISSING:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list) and all(isinstance(v, str) for v in value) and _days_column(path):
        return ",".join(value)
    return json.dumps(value, ensure_ascii=False)


def _days_column(path: str) -> bool:
    return kind_at(path) == "days"


@lru_cache(maxsize=256)
def _converter(path: str, expect: bool) -> ColumnConverter:
    spec = EXPECT_PATHS[path] if expect else CHANGE_PATHS[path]
    return ColumnConverter(path, spec)


def reads_back(path: str, value: Any, cell: str | None, *, expect: bool = False) -> bool:
    """Whether a sheet reads ``cell`` in column ``path`` (or ``expect.path``) as ``value``."""
    if cell is None or not cell or cell != cell.strip():
        return False
    converted, rules = _converter(path, expect)(cell)
    return not rules and same_value(path, value, converted)


def exact_cell(path: str, value: Any, *, expect: bool = False) -> str | None:
    """:func:`cell_for`, when it reads back as ``value``; else None (an empty cell)."""
    cell = cell_for(path, value)
    return cell if reads_back(path, value, cell, expect=expect) else None


def is_formula(cell: str | None) -> bool:
    """Whether a spreadsheet may run the cell as a formula when it opens a CSV."""
    return cell is not None and cell.startswith(FORMULA_STARTS)
