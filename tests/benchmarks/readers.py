"""Why the CSV reader hands polars blocks: the streaming readers, side by side.

    python -m tests.benchmarks.readers [ROWS ...]      (default: 1000000 3000000)

For each size, a validate-benchmark sheet is read to the end as Python rows by each reader, each
in its own process (so that its peak memory is its own): bulkpatch's reader (polars on blocks cut
at record ends), ``pl.scan_csv(...).collect_batches()`` and ``pyarrow.csv.open_csv``.  A slow
consumer (like validation) is simulated, so that a reader that parses ahead shows it.  Then the
cases a sheet must get right are read by the two library readers.
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .sheets import write_validate_sheet

READERS = ("bulkpatch", "polars-collect-batches", "pyarrow-open-csv")


def _bulkpatch(path: Path) -> Iterator[tuple[Any, ...]]:
    from bulkpatch.sheet import open_sheet

    for _, cells in open_sheet(path).iter_rows(raw=True):
        yield tuple(cells.values())


def _polars(path: Path) -> Iterator[tuple[Any, ...]]:
    import polars as pl

    frames = pl.scan_csv(path, infer_schema=False, glob=False).collect_batches(chunk_size=50_000)
    for frame in frames:
        yield from zip(*(s.to_list() for s in frame.get_columns()), strict=True)


def _pyarrow(path: Path | io.BytesIO, width: int | None = None) -> Iterator[tuple[Any, ...]]:
    import pyarrow as pa
    import pyarrow.csv as pc

    if width is None:
        with open(path, encoding="utf-8-sig") as handle:  # type: ignore[arg-type]
            width = handle.readline().count(",") + 1
    names = [f"c{i}" for i in range(width)]
    reader = pc.open_csv(
        path,
        read_options=pc.ReadOptions(column_names=names, skip_rows=1),
        parse_options=pc.ParseOptions(newlines_in_values=True, ignore_empty_lines=False),
        convert_options=pc.ConvertOptions(column_types=dict.fromkeys(names, pa.string())),
    )
    for batch in reader:
        yield from zip(*(c.to_pylist() for c in batch.columns), strict=True)


def _measure(reader: str, path: Path) -> dict[str, Any]:
    rows = {"bulkpatch": _bulkpatch, "polars-collect-batches": _polars}.get(reader, _pyarrow)
    started = time.perf_counter()
    count = 0
    spent = 0
    for row in rows(path):
        count += 1
        for _ in range(20):  # about what validating a row costs, in the consumer's thread
            spent += len(row)
    return {
        "reader": reader,
        "rows": count,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


_CASES: dict[str, bytes] = {
    "short line (missing cells must read as empty)": b"a,b,c\n1,2\n",
    "long line (must be refused, naming line 2)": b"a,b\n1,2,3\n",
    "unclosed quote (must be refused, not read to the end)": b'a,b\n1,"open\n2,x\n3,y\n',
    "quoted line break, BOM, CRLF": b'\xef\xbb\xbfa,b\r\n1,"x\r\ny"\r\n',
}


def _cases() -> list[dict[str, str]]:
    import polars as pl

    out = []
    for name, data in _CASES.items():
        width = data.split(b"\n")[0].count(b",") + 1
        results = {}
        for reader, read in (
            ("polars", lambda d: pl.read_csv(d, infer_schema=False).rows()),
            ("pyarrow", lambda d, w=width: list(_pyarrow(io.BytesIO(d), w))),
        ):
            try:
                results[reader] = repr(read(data))
            except Exception as exc:
                results[reader] = f"error: {str(exc).splitlines()[0][:70]}"
        out.append({"case": name, **results})
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(_measure(argv[1], Path(argv[2]))))
        return 0
    sizes = [int(a) for a in argv] or [1_000_000, 3_000_000]
    with tempfile.TemporaryDirectory() as work:
        for size in sizes:
            path = write_validate_sheet(Path(work) / f"v{size}.csv", size)
            for reader in READERS:
                done = subprocess.run(
                    [sys.executable, "-m", "tests.benchmarks.readers", "--one", reader, str(path)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                print(f"{size:>9,} rows  {done.stdout.strip()}")
    for case in _cases():
        print(json.dumps(case))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
