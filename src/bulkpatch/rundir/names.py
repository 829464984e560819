"""The names of the files in a run directory (and in a plan's or a merge's), in one place.

Every module that reads or writes one of these files names it through this module, so that a
file is renamed -- or a new one added -- here alone.
"""

from __future__ import annotations

from pathlib import Path

#: The append-only journal ``resume``, ``undo``, ``verify`` and ``report`` trust.
JOURNAL = "journal.jsonl"
#: One line per row of the run (of its shard), in sheet order.
RESULTS_CSV = "results.csv"
#: results.csv again as Parquet, beside it, for a Parquet sheet.
RESULTS_PARQUET = "results.parquet"
#: Counts, rates, next steps and exit code of the last session (or of a merge).
SUMMARY_JSON = "summary.json"
#: The page of what a run did, built from the journal.
REPORT_HTML = "report.html"
#: The retry sheet's stem: ``retry.<kind>``, in the sheet's own format (:func:`retry_name`).
RETRY_STEM = "retry"
#: The run's own copy of its sheet: ``sheet.<ext>`` (:func:`sheet_copies`).
SHEET_STEM = "sheet"
#: What a crash that is a bug leaves behind.
TRACEBACK = "traceback.txt"

#: ``bulkpatch plan``: its rows, its page, its approval file and the rows the approval covers.
PLAN_CSV = "plan.csv"
PLAN_HTML = "plan.html"
PLAN_JSON = "plan.json"
PLAN_ROWS = "plan-rows.jsonl"
#: A run's own copy of the plan it was approved by.
APPROVED_PLAN_JSON = "approved-plan.json"
APPROVED_PLAN_ROWS = "approved-plan-rows.jsonl"

#: ``bulkpatch undo`` / ``bulkpatch verify``: the sheets they write in the run directory.
UNDO_CSV = "undo.csv"
VERIFY_CSV = "verify.csv"

#: One bulkpatch at a time per run directory; one run of a sheet per API per report directory.
LOCK = ".lock"
LOCKS_DIR = ".bulkpatch-locks"


def retry_name(kind: str) -> str:
    """The retry sheet of a sheet of ``kind`` (``csv``, ``parquet``, ``xlsx``)."""
    return f"{RETRY_STEM}.{kind}"


def tmp_name(name: str) -> str:
    """The temporary name a file is written under before it is renamed into place."""
    return f".{name}.tmp"


def is_tmp_of(name: str, target: str) -> bool:
    """Whether ``name`` is a temporary file left by a write of ``target`` (the writers' own
    ``.NAME.tmp``, and the sheet writers' ``.NAME.<random>.tmp``)."""
    return name.startswith(f".{target}.") and name.endswith(".tmp")


def sheet_copies(run_dir: Path) -> list[Path]:
    """The run's copies of its sheet (one, normally), in name order."""
    return sorted(p for p in run_dir.glob(f"{SHEET_STEM}.*") if p.is_file())


#: The campaigns a ``--simulate`` run's simulator ended with (``bulkpatch.simulator.snapshot``).
SIMULATOR_STATE = "simulator-state.json"
