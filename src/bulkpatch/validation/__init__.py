"""Offline validation: a row's cells -> a :class:`RowVerdict`; a sheet -> a :class:`SheetCheck`.

The field rules are not written here: every value is checked against the annotated types of
:mod:`bulkpatch.core.models` through ``pydantic.TypeAdapter``.  What this package adds is the
sheet's grammar (its columns and cells: docs/sheet.md), one module per concern:

* :mod:`.words` -- pydantic's errors in plain words;
* :mod:`.days`, :mod:`.checks`, :mod:`.cells` -- converting a cell to what its column's type
  expects (numbers, booleans, JSON text, the ``allowed_days`` shorthand), whole objects checked
  partially;
* :mod:`.header` -- unknown, repeated, invisible or missing columns;
* :mod:`.row` -- one row: key columns, start before end, two columns setting the same path, a
  row that changes nothing;
* :mod:`.noread` -- what ``--no-read`` cannot do;
* :mod:`.columnar` -- a frame of rows judged column by column (polars expressions, distinct
  cells once); the rows it cannot accept go to :mod:`.row`, so the messages are the same;
* :mod:`.found`, :mod:`.framepass` -- what the sheet's one pass finds (repeated campaigns from
  hashed keys), the pass over frames, and the judgement a run's streaming pass reuses;
* :mod:`.sheetcheck` -- the whole sheet in one read (duplicates, ``--no-read`` problems, the
  campaign keys), and the run's streaming pass.

Nothing here raises on bad cell text: any cell yields a value or a rule it breaks.  It owns
every offline judgement of a sheet; nothing here touches the network.

May import: ``bulkpatch.sheet`` and ``bulkpatch.core`` only.
"""

from bulkpatch.core.text import shorten
from bulkpatch.validation.cells import ColumnConverter
from bulkpatch.validation.days import normalise_days
from bulkpatch.validation.header import check_header
from bulkpatch.validation.noread import no_read_problems
from bulkpatch.validation.row import RowValidator, validate_row
from bulkpatch.validation.sheetcheck import SheetCheck, check_sheet, iter_verdicts
from bulkpatch.validation.words import CACHE_SIZE, MAX_RULES_PER_CELL

__all__ = [
    "CACHE_SIZE",
    "MAX_RULES_PER_CELL",
    "ColumnConverter",
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
