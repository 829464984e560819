"""``run SHEET --continue``: the latest run of the same sheet against the same API, if any.

A run directory belongs to the same work when its journal's first line names the same sheet
digest (``sha256``), an API that :func:`~bulkpatch.rundir.directory.same_api` calls the same,
the same ``simulate`` setting and the same shard.  Of those, the one started last decides:

* no ``end`` line, or an end that can be carried on (stopped: 3; at a window's end: 75; a bug:
  70): it is **unfinished**, and ``--continue`` resumes it in its own directory;
* an end with 0 or 1: it is **complete**, and ``--continue`` says so, sends nothing and exits
  with that run's code;
* an end with 2 (nothing was sent): it does not count, and ``--continue`` starts a new run.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulkpatch.rundir.directory import same_api
from bulkpatch.rundir.names import JOURNAL

#: Exit codes after which a run is carried on rather than started again.
CARRIED_ON = frozenset({3, 70, 75})
#: Exit codes of a run that is complete.
COMPLETE = frozenset({0, 1})


@dataclass(frozen=True, slots=True)
class EarlierRun:
    """The latest run of the same work: ``exit_code`` is ``None`` while it has no end."""

    run_dir: Path
    started: float
    exit_code: int | None

    @property
    def complete(self) -> bool:
        return self.exit_code in COMPLETE


def _first_and_last(journal: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    first: dict[str, Any] = {}
    last: dict[str, Any] | None = None
    with journal.open("r", encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if not isinstance(record, dict):
                    continue
                if number == 0:
                    first = record
                last = record
    return first, last


def _same_work(
    start: dict[str, Any], *, sha256: str, api: str, simulate: bool, shard: str | None
) -> bool:
    raw = start.get("options")
    options: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return (
        start.get("e") == "start"
        and start.get("sha256") == sha256
        and same_api(str(options.get("base_url", ""))) == api
        and bool(options.get("simulate")) == simulate
        and (options.get("shard") or None) == shard
    )


def latest_run_of(
    report_dir: Path,
    *,
    sha256: str,
    base_url: str,
    simulate: bool = False,
    shard: str | None = None,
) -> EarlierRun | None:
    """The latest run in ``report_dir`` of the sheet with digest ``sha256`` against
    ``base_url`` that counts for ``--continue`` (see the module's docstring), or ``None``."""
    api = same_api(base_url)
    found: list[EarlierRun] = []
    try:
        entries = [p for p in report_dir.iterdir() if p.is_dir()]
    except OSError:
        return None
    for run_dir in entries:
        journal = run_dir / JOURNAL
        if not journal.is_file():
            continue
        try:
            start, last = _first_and_last(journal)
        except OSError:
            continue
        if not _same_work(start, sha256=sha256, api=api, simulate=simulate, shard=shard):
            continue
        code = None
        if last is not None and last.get("e") == "end":
            raw = last.get("exit_code")
            code = raw if isinstance(raw, int) else 70
            if code not in CARRIED_ON | COMPLETE:
                continue
        started = start.get("t")
        found.append(
            EarlierRun(run_dir, float(started) if isinstance(started, int | float) else 0.0, code)
        )
    if not found:
        return None
    return max(found, key=lambda run: (run.started, run.run_dir.name))
