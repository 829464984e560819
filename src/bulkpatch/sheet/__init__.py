"""Sheets: CSV (as text), Parquet (native values) and ``.xlsx`` (as text), read in batches.

* :func:`open_sheet` checks that a file can be read and reads its header;
  :meth:`Sheet.iter_rows` then streams ``(row_number, cells)`` pairs, so memory does not grow
  with the sheet.
* :func:`snapshot_sheet` copies a sheet into a run directory, hashing it in the same read, and
  opens the copy.
* :func:`copy_rows` writes some of a sheet's own rows to a new file; :func:`write_table` writes a
  new sheet.

Every way a file can fail to be read ends in a :class:`SheetError` whose text is a sentence a
person can act on ("... is not UTF-8 text: ..."), never a library's traceback.  Only regular
files are read: a named pipe or a device is refused before it is opened for reading.

Owns reading and writing sheet files: the opened :class:`Sheet` (``base``), opening and
snapshotting (``files``, which chooses the reader once), the readers (``csvfile``,
``parquetfile``, ``excelfile``, sharing ``frames`` and ``regular``) and writing (``writing``).

May import: ``bulkpatch.core`` only.
"""

from bulkpatch.core.errors import SheetError
from bulkpatch.sheet.base import (
    DEFAULT_BATCH_SIZE,
    KINDS,
    UNNAMED,
    Sheet,
    SheetKind,
    sheet_kind,
)
from bulkpatch.sheet.excelfile import EXCEL_MAX_ROWS
from bulkpatch.sheet.files import file_sha256, open_sheet, snapshot_sheet
from bulkpatch.sheet.writing import CopyResult, as_text, copy_rows, write_table

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "EXCEL_MAX_ROWS",
    "KINDS",
    "UNNAMED",
    "CopyResult",
    "Sheet",
    "SheetError",
    "SheetKind",
    "as_text",
    "copy_rows",
    "file_sha256",
    "open_sheet",
    "sheet_kind",
    "snapshot_sheet",
    "write_table",
]
