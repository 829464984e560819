"""The rows of ``bulkpatch export``'s sheet, from a campaign's detail: pure functions.

* :func:`check_columns`: the chosen change columns, checked;
* :func:`header`: keys, notes (``#status``, ``#name``), the columns, ``expect.updated_at`` and an
  ``expect.`` copy of each column;
* :func:`campaign_row`: one campaign's row under that header, its values as cells the sheet
  grammar reads back exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bulkpatch.core.columns import CHANGE_PATHS, suggest
from bulkpatch.core.errors import UsageError
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.values import get_path
from bulkpatch.validation.cellvalues import exact_cell

__all__ = ["campaign_row", "check_columns", "header", "value_cells"]


def check_columns(columns: Sequence[str]) -> tuple[str, ...]:
    """The chosen change columns, checked: known paths, none inside another."""
    chosen: list[str] = []
    for column in columns:
        name = column.strip()
        if not name or name in chosen:
            continue
        if name.startswith("expect.") or name == "updated_at":
            raise UsageError(
                f"--columns: `{name}` is not a change column; export writes `expect.updated_at` "
                "and an `expect.` copy of each chosen column by itself"
            )
        if name not in CHANGE_PATHS:
            hint = suggest(name)
            raise UsageError(
                f"--columns: `{name}` is not a change column"
                + (f" — did you mean `{hint}`?" if hint else "")
                + " (`bulkpatch validate --help` lists them)"
            )
        chosen.append(name)
    for a in chosen:
        for b in chosen:
            if b.startswith(a + "."):
                raise UsageError(
                    f"--columns: `{b}` lies inside `{a}`, so a row would set it twice; "
                    "choose one of them"
                )
    if not chosen:
        raise UsageError("--columns names no column")
    return tuple(chosen)


def header(columns: Sequence[str]) -> list[str]:
    notes = ["#status"] + ([] if "name" in columns else ["#name"])
    return [
        "org_id",
        "workspace_id",
        "campaign_id",
        *notes,
        *columns,
        "expect.updated_at",
        *(f"expect.{c}" for c in columns),
    ]


def value_cells(detail: dict[str, Any], columns: Sequence[str]) -> list[str | None]:
    """The campaign's current values as exact cells (None: an empty cell)."""
    return [exact_cell(c, get_path(detail, c)) for c in columns]


def campaign_row(
    key: CampaignKey,
    detail: dict[str, Any],
    columns: Sequence[str],
    values: list[str | None] | None = None,
) -> list[Any]:
    """One sheet row: keys, notes, current values, guards (None: an empty cell)."""
    if values is None:
        values = value_cells(detail, columns)
    guards = [exact_cell(c, get_path(detail, c), expect=True) for c in columns]
    notes: list[Any] = [str(detail.get("status") or "")]
    if "name" not in columns:
        notes.append(str(detail.get("name") or ""))
    stamp = detail.get("updated_at")
    return [
        key.org_id,
        key.workspace_id,
        key.campaign_id,
        *notes,
        *values,
        stamp if isinstance(stamp, str) and stamp else None,
        *guards,
    ]
