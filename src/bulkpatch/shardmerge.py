"""``bulkpatch merge``: the run directories of a sheet's shards, as one.

Each shard's ``results.csv`` is in sheet order and holds only its own rows, so the merged file is
a k-way merge on the row number (memory stays flat).  ``retry.*`` is the sheet's own rows that did
not succeed in any shard; ``summary.json`` adds the shards' counts up.  Directories from different
sheets (sha256), or two directories for the same shard, are refused.
"""

from __future__ import annotations

import csv
import heapq
import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkpatch.errors import UsageError
from bulkpatch.journal import JOURNAL_NAME, read_journal
from bulkpatch.outcomes import ExitCode, Outcome
from bulkpatch.reports import RESULT_COLUMNS, atomic_text, report_cell, write_json
from bulkpatch.sheet import copy_rows, open_sheet
from bulkpatch.summary import NextStep, ReasonGroup, next_steps, reason_group
from bulkpatch.version import __version__


@dataclass(frozen=True)
class ShardDir:
    path: Path
    sha256: str
    shard: str | None
    summary: dict[str, Any]


def _read_dir(path: Path) -> ShardDir:
    journal = path / JOURNAL_NAME
    if not journal.is_file():
        raise UsageError(f"{path} has no {JOURNAL_NAME}; is it a run directory?")
    start = read_journal(journal).start or {}
    summary_path = path / "summary.json"
    if not summary_path.is_file() or not (path / "results.csv").is_file():
        raise UsageError(
            f"{path} has no summary.json or results.csv: the shard has not finished; "
            f"`bulkpatch resume {path}` first"
        )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    options = start.get("options") or {}
    return ShardDir(path, str(start.get("sha256")), options.get("shard"), summary)


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with (path / "results.csv").open(newline="", encoding="utf-8") as f:
        for record in csv.DictReader(f):
            yield int(record["row"]), record


def merge_run_dirs(dirs: Sequence[Path], out: Path) -> tuple[dict[str, Any], list[str]]:
    """Merge shard run directories into ``out``; returns (summary data, warnings)."""
    if not dirs:
        raise UsageError("give the shards' run directories to merge")
    shards = [_read_dir(Path(d)) for d in dirs]
    shas = {s.sha256 for s in shards}
    if len(shas) != 1:
        raise UsageError(
            "these run directories come from different sheets (their sha256 differ); "
            "merge only the shards of one sheet"
        )
    warnings: list[str] = []
    seen: dict[str, Path] = {}
    for s in shards:
        label = s.shard or "(not sharded)"
        if label in seen:
            raise UsageError(f"{seen[label]} and {s.path} are both shard {label}; keep one")
        seen[label] = s.path
    counts = {int(s.shard.split("/")[1]) for s in shards if s.shard}
    if len(counts) == 1:
        total = counts.pop()
        missing = sorted(
            set(range(1, total + 1)) - {int(k.split("/")[0]) for k in seen if "/" in k}
        )
        if missing:
            warnings.append(
                f"shard(s) {', '.join(f'{k}/{total}' for k in missing)} are missing: their rows "
                "are not in the merged reports"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    outcomes: Counter[str] = Counter()
    groups: Counter[ReasonGroup] = Counter()
    retry: set[int] = set()
    last = 0
    with atomic_text(out / "results.csv") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(RESULT_COLUMNS)
        for row, record in heapq.merge(*(_rows(s.path) for s in shards), key=lambda r: r[0]):
            if row == last:
                raise UsageError(f"row {row} is in two of these directories; they overlap")
            last = row
            outcome = record["outcome"]
            outcomes[outcome] += 1
            if not Outcome(outcome).ok:
                retry.add(row)
                groups[reason_group(outcome, record["reason"])] += 1
            writer.writerow([report_cell(record.get(c) or None) for c in RESULT_COLUMNS])
    copies = sorted(shards[0].path.glob("sheet.*"))
    retry_name = "retry.csv"
    if copies:
        sheet = open_sheet(
            copies[0], sheet_name=(shards[0].summary.get("options") or {}).get("sheet_name")
        )
        retry_name = f"retry.{sheet.kind}"
        copy_rows(sheet, retry, out / retry_name)
    codes = [int(s.summary.get("exit_code", 0)) for s in shards]
    left_paused: dict[str, str] = {}
    refused: dict[str, str] = {}
    for s in shards:
        left_paused.update(s.summary.get("campaigns_left_paused") or {})
        refused.update(s.summary.get("keys_refused") or {})
    if ExitCode.ABORTED in codes or left_paused:
        code = ExitCode.ABORTED
    elif any(n for name, n in outcomes.items() if not Outcome(name).ok):
        code = ExitCode.SOME_ROWS_NOT_OK
    else:
        code = ExitCode.OK
    steps: list[NextStep] = next_steps(groups, out, retry_name=retry_name, resumable=False)
    data: dict[str, Any] = {
        "bulkpatch": __version__,
        "mode": "merge",
        "sheet": shards[0].summary.get("sheet"),
        "merged": datetime.now(UTC).isoformat(),
        "shards": [
            {"shard": s.shard, "run_dir": str(s.path), "exit_code": s.summary.get("exit_code")}
            for s in shards
        ],
        "rows": sum(outcomes.values()),
        "outcomes": {o.value: outcomes.get(o.value, 0) for o in Outcome},
        "requests": {
            "total": sum(int((s.summary.get("requests") or {}).get("total", 0)) for s in shards)
        },
        "throttled_429": sum(int(s.summary.get("throttled_429", 0)) for s in shards),
        "duration_s": max(float(s.summary.get("duration_s", 0.0)) for s in shards),
        "campaigns_left_paused": left_paused,
        "keys_refused": refused,
        "next_steps": [s.as_dict() for s in steps],
        "warnings": warnings,
        "exit_code": int(code),
    }
    write_json(out / "summary.json", data)
    return data, warnings
