"""The end of a session: the report files beside the journal.

Written after the journal's ``end`` line, each whole or not at all: the retry sheet (the sheet's
own rows that did not succeed, in its own format), ``results.parquet`` for a Parquet sheet,
``summary.json``, and ``report.html`` (a run) or ``plan.html`` (a plan).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import StorageError
from bulkpatch.core.events import EventSink, Progress
from bulkpatch.engine.amends import Amends
from bulkpatch.engine.recorder import Recorder
from bulkpatch.engine.stats import RunStats
from bulkpatch.rundir.directory import storage_error
from bulkpatch.rundir.files import (
    OrderedResults,
    parquet_twin,
    rewrite_results,
    write_retry,
    write_summary,
)
from bulkpatch.rundir.journal import JournalWriter
from bulkpatch.rundir.names import PLAN_HTML, SUMMARY_JSON, retry_name
from bulkpatch.sheet import Sheet


def emit_tick(
    stats: RunStats,
    journal: JournalWriter | None,
    emit: EventSink,
    *,
    target: float | None,
    breaker_open: bool,
) -> None:
    """A ``tick`` journal line and a progress event (once a second, and once at the end)."""
    tick = stats.take_tick()
    if journal is not None:
        journal.write("tick", flush=False, **tick, target=target, breaker_open=breaker_open)
    emit(
        Progress(
            done=stats.rows_done,
            total=stats.rows_total,
            counts=dict(stats.outcomes),
            achieved_rate=stats.achieved_rate(),
            target_rate=target,
            breaker_open=breaker_open,
            elapsed=stats.elapsed,
        )
    )


def close_reports(
    mode: str,
    sheet: Sheet,
    recorder: Recorder,
    run_dir: Path,
    data: Mapping[str, Any],
    *,
    results: OrderedResults,
    amends: Amends,
    journal: JournalWriter | None,
    exit_code: int,
    plan_meta: Mapping[str, Any],
) -> int:
    """Put ``results.csv`` in place (with the amends of campaigns resumed after all), end the
    journal, then write the other report files (:func:`write_end_files`).  A file that cannot be
    written is a :class:`StorageError` naming it; returns :func:`write_end_files`' count."""
    try:
        results.commit()
        if amends.records:
            rewrite_results(results.path, amends.records)
        if journal is not None:
            journal.write("end", exit_code=exit_code)
            journal.close()
        return write_end_files(
            mode, sheet, recorder, run_dir, data, results_path=results.path, plan_meta=plan_meta
        )
    except (OSError, StorageError) as exc:
        results.abandon()
        if journal is not None:
            journal.close()
        if isinstance(exc, StorageError):
            raise
        named = exc.filename2 or exc.filename
        if named:
            raise storage_error("write", Path(os.fsdecode(named)), exc) from None
        raise storage_error("write the reports in", run_dir, exc) from None


def write_end_files(
    mode: str,
    sheet: Sheet,
    recorder: Recorder,
    run_dir: Path,
    data: Mapping[str, Any],
    *,
    results_path: Path,
    plan_meta: Mapping[str, Any],
) -> int:
    """Write the session's report files; returns how many note cells in the retry sheet start
    with a formula character (to warn about once).  An ``OSError`` propagates."""
    formula_notes = 0
    if mode != "plan":
        if sheet.kind == "parquet":
            parquet_twin(results_path)
        formula_notes = write_retry(sheet, recorder.retry_rows, run_dir).formula_notes
    write_summary(run_dir / SUMMARY_JSON, data)
    if mode == "plan":
        # start-up cost: the HTML renderers load at the end of a session, not before its first
        # request
        from bulkpatch.html.planpage import write_plan_page

        write_plan_page(run_dir / PLAN_HTML, recorder.page_rows(), plan_meta)
    else:
        # start-up cost: as above
        from bulkpatch.html.reportfile import write_run_report

        write_run_report(run_dir)
    return formula_notes


def formula_warning(count: int, kind: str) -> str:
    """The warning for note cells of the retry sheet that start like a formula."""
    return (
        f"{count} note cell(s) in {retry_name(kind)} start with a formula character (=, +, -, @); "
        "a spreadsheet may run them when the file is opened"
    )
