"""Reading a Parquet sheet with pyarrow, a row group batch at a time, cells with native values.

Lists become Python lists, structs and maps become dicts.  Text is trimmed and an empty text cell
is ``None``.  A struct field that is null is dropped: a Parquet struct cannot leave a field out,
so null there means "not given".
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from bulkpatch.core.errors import SheetError
from bulkpatch.sheet.base import Cells, Sheet, first_line


def open_parquet(path: Path, head: bytes, source: Path | None) -> Sheet:
    import pyarrow.parquet as pq  # lazy: pyarrow is slow to import and only Parquet needs it

    shown = source or path
    if not head:
        raise SheetError(f"{shown}: is empty: a sheet needs a header row and at least one row")
    if not head.startswith(b"PAR1"):
        hint = ""
        if head.lstrip(codecs.BOM_UTF8)[:1].isascii() and b"\x00" not in head:
            hint = ": it looks like text; name it .csv or pass --format csv"
        raise SheetError(f"{shown}: is not a Parquet file{hint}")
    try:
        parquet = pq.ParquetFile(path)
        names = [str(name).strip() for name in parquet.schema_arrow.names]
        count = int(parquet.metadata.num_rows)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise SheetError(f"{shown}: is not a readable Parquet file: {first_line(exc)}") from None
    if not names:
        raise SheetError(f"{shown}: has no columns")
    return Sheet(path, "parquet", tuple(names), iter_parquet, row_count_hint=count, source=source)


def iter_parquet(sheet: Sheet, batch_size: int, raw: bool) -> Iterator[tuple[int, Cells]]:
    import pyarrow.parquet as pq  # lazy: pyarrow is slow to import and only Parquet needs it

    columns = sheet.columns
    try:
        parquet = pq.ParquetFile(sheet.path)
        batches = parquet.iter_batches(batch_size=batch_size)
    except Exception as exc:
        raise SheetError(f"{sheet.shown}: cannot read it: {first_line(exc)}") from None
    row = 0
    width = len(columns)
    while True:
        try:
            batch = next(batches)
            values = [arrow_to_list(batch.column(i)) for i in range(batch.num_columns)]
        except StopIteration:
            return
        except Exception as exc:
            raise SheetError(
                f"{sheet.shown}: cannot read rows after row {row}: {first_line(exc)}"
            ) from None
        if not raw:
            values = [[_clean_native(v) for v in column] for column in values]
        for cells in zip(*values, strict=False):
            row += 1
            if not raw and cells.count(None) == width:
                continue  # a blank row
            yield row, dict(zip(columns, cells, strict=False))


def arrow_to_list(array: Any) -> list[Any]:
    try:
        return cast(list[Any], array.to_pylist(maps_as_pydicts="strict"))
    except TypeError:  # an older pyarrow without maps_as_pydicts
        return cast(list[Any], array.to_pylist())


def _clean_native(value: Any) -> Any:
    """Trim text (empty -> None); drop null struct fields; recurse into lists and structs."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if isinstance(value, dict):
        return {k: _clean_native(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean_native(v) if isinstance(v, dict | list) else v for v in value]
    return value
