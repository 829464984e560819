"""The end of a session: the report files beside the journal.

Written after the journal's ``end`` line, each whole or not at all: the retry sheet (the sheet's
own rows that did not succeed, in its own format), ``results.parquet`` for a Parquet sheet,
``summary.json``, and ``report.html`` (a run) or ``plan.html`` (a plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulkpatch.html.planpage import write_plan_page
from bulkpatch.html.runreport import write_run_report
from bulkpatch.recorder import Recorder
from bulkpatch.reports import csv_to_parquet, write_json
from bulkpatch.sheet import Sheet, copy_rows


def write_end_files(
    mode: str,
    sheet: Sheet,
    recorder: Recorder,
    run_dir: Path,
    data: Mapping[str, Any],
    *,
    plan_meta: Mapping[str, Any],
) -> int:
    """Write the session's report files; returns how many note cells in the retry sheet start
    with a formula character (to warn about once).  An ``OSError`` propagates."""
    formula_notes = 0
    if mode != "plan":
        if sheet.kind == "parquet":
            csv_to_parquet(run_dir / "results.csv", run_dir / "results.parquet")
        formula_notes = copy_rows(
            sheet, recorder.retry_rows, run_dir / f"retry.{sheet.kind}"
        ).formula_notes
    write_json(run_dir / "summary.json", data)
    if mode == "plan":
        write_plan_page(run_dir / "plan.html", recorder.page_rows(), plan_meta)
    else:
        write_run_report(run_dir)
    return formula_notes
