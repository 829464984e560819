"""``report.html`` on disk: a run directory's journal read into a report, rendered, written.

The shell around two pure parts: :func:`bulkpatch.html.runreport.build_run_report` (the journal's
records to a :class:`~bulkpatch.html.runreport.RunReport`) and
:func:`bulkpatch.html.runpage.render_run_report` (that report to HTML).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import UsageError
from bulkpatch.html.runpage import render_run_report
from bulkpatch.html.runreport import RunReport, build_run_report
from bulkpatch.rundir.files import atomic_text
from bulkpatch.rundir.journal import iter_records
from bulkpatch.rundir.names import JOURNAL, REPORT_HTML, SUMMARY_JSON

REPORT_NAME = REPORT_HTML


def read_summary(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_run_report(run_dir: Path) -> RunReport:
    """The report of the run in ``run_dir``, from its journal (and summary.json, if present)."""
    journal = run_dir / JOURNAL
    if not journal.is_file():
        raise UsageError(
            f"{run_dir} has no {JOURNAL}: give the directory of a run (one that holds {JOURNAL})."
        )
    return build_run_report(
        iter_records(journal, exact=False), read_summary(run_dir / SUMMARY_JSON)
    )


def save_run_report(run_dir: Path, report: RunReport) -> Path:
    """Write ``report`` as ``run_dir/report.html``, whole or not at all, mode 0600."""
    page = render_run_report(report)
    out = run_dir / REPORT_NAME
    with atomic_text(out) as f:
        f.write(page)
    return out


def write_run_report(run_dir: Path) -> Path:
    """Build ``report.html`` from ``run_dir``'s journal (and summary.json, if present) and write
    it whole or not at all, mode 0600.  Returns its path."""
    return save_run_report(run_dir, load_run_report(run_dir))
