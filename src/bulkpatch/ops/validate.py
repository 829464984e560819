"""``bulkpatch validate SHEET``: every row of a sheet checked, nothing sent.

:func:`validate_sheet` opens the sheet (CSV, Parquet or ``.xlsx``; ``fmt`` overrides the
extension, ``sheet_name`` picks a worksheet), tells ``on_open`` which worksheet it reads, and
returns the :class:`~bulkpatch.validation.SheetCheck`: every problem in file order, with its row.
A file that cannot be read as a sheet raises :class:`~bulkpatch.core.errors.SheetError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bulkpatch.sheet import open_sheet
from bulkpatch.validation import SheetCheck, check_sheet

__all__ = ["SheetCheck", "validate_sheet"]


def validate_sheet(
    path: str | Path,
    *,
    fmt: str | None = None,
    sheet_name: str | None = None,
    org: str | None = None,
    workspace: str | None = None,
    on_open: Callable[[str | None], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SheetCheck:
    """Check every row of the sheet at ``path``; ``org`` / ``workspace`` fill keys a sheet
    leaves out.  ``on_open`` gets the worksheet's name (``None`` for a CSV or Parquet file)
    before the rows are read; ``progress`` the count of rows checked so far."""
    opened = open_sheet(path, fmt=fmt, sheet_name=sheet_name)
    if on_open is not None:
        on_open(opened.sheet_name)
    return check_sheet(opened, org=org, workspace=workspace, progress=progress)
