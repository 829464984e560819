"""``bulkpatch merge``: the run directories of a sheet's shards, as one.

Each shard's ``results.csv`` is in sheet order and holds only its own rows, so the merged file is
a k-way merge on the row number, walked along the sheet's own copy (memory stays flat).  A row of
the sheet that no directory reports (its shard is not among them) is reported ``not_attempted``
with the shard it belongs to, and the merge exits 3: it is not finished.  Directories from
different sheets (sha256), split differently (another N), or two for the same shard, are refused.

``retry.*`` holds the sheet's rows that finished not OK; rows a shard has still to do (it stopped,
or left a campaign paused, or is missing) are not in it: their next step resumes or runs that
shard, so that following every next step applies each row once.  ``summary.json`` adds the
shards' counts up.

The merged files replace an earlier merge's as a whole: each is written in a staging directory
inside ``--out`` first, and they are renamed into place only once all are written (summary.json
last); temporary files an earlier merge left behind (one that was killed) are removed first.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.outcomes import ExitCode, Outcome
from bulkpatch.core.results import not_attempted, report_row
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.shards import Shard, parse_shard, shard_of
from bulkpatch.core.summary import (
    NextStep,
    ReasonGroup,
    command,
    command_note,
    exit_code_for,
    next_steps,
    options_of,
    reason_group,
    summary_content,
)
from bulkpatch.rundir.files import read_results, write_results, write_retry, write_summary
from bulkpatch.rundir.journal import read_journal
from bulkpatch.rundir.names import (
    JOURNAL,
    RESULTS_CSV,
    RESULTS_PARQUET,
    RETRY_STEM,
    SUMMARY_JSON,
    is_tmp_of,
    retry_name,
    sheet_copies,
)
from bulkpatch.sheet import Sheet, open_sheet
from bulkpatch.validation import iter_verdicts

#: The directory inside ``--out`` the merged files are written in before they are put in place.
STAGING = ".merging"

#: Where a missing shard's row points for the command that runs it.
SEE_STEPS = "the merge's next steps give the command"


@dataclass(frozen=True)
class ShardDir:
    path: Path
    sha256: str
    shard: Shard | None
    summary: dict[str, Any]
    options: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.shard) if self.shard else "(not sharded)"

    @property
    def stopped(self) -> bool:
        """The shard stopped before its end or left a campaign paused: it is to be resumed."""
        code = self.summary.get("exit_code")
        return code == ExitCode.ABORTED or bool(self.summary.get("campaigns_left_paused"))


def _read_dir(path: Path) -> ShardDir:
    journal = path / JOURNAL
    if not journal.is_file():
        raise UsageError(f"{path} has no {JOURNAL}; is it a run directory?")
    start = read_journal(journal).start or {}
    summary_path = path / SUMMARY_JSON
    if not summary_path.is_file() or not (path / RESULTS_CSV).is_file():
        raise UsageError(
            f"{path} has no summary.json or results.csv: the shard has not finished; "
            f"`{command('resume', path, options=options_of(start.get('options')), reach='run_dir')}"
            "` first"
        )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    options = start.get("options") or {}
    label = options.get("shard")
    shard = parse_shard(label) if label else None
    return ShardDir(path, str(start.get("sha256")), shard, summary, options)


def refuse_out_in_inputs(out: Path, dirs: Iterable[Path]) -> None:
    """``--out`` must not be one of the run directories merged, nor inside one: the merged
    reports would replace that shard's own."""
    where = out.resolve()
    for d in dirs:
        given = d.resolve()
        if where == given or where.is_relative_to(given):
            what = "is" if where == given else "is inside"
            raise UsageError(
                f"--out {out} {what} the run directory {d}: the merged reports would replace "
                "that shard's own. Give --out a directory of its own"
            )


def split_of(shards: Sequence[ShardDir]) -> int | None:
    """The N the shards were split by (None: one run that is not sharded); a mix is refused."""
    counts = {s.shard.count if s.shard else None for s in shards}
    if len(counts) > 1:
        told = ", ".join(sorted(f"N={n}" if n else "not sharded" for n in counts))
        raise UsageError(
            f"these run directories split the sheet differently ({told}): their rows do not "
            "add up to the sheet. Merge the shards of one split (the same N in --shard K/N)"
        )
    return counts.pop()


def _rows(path: Path, index: int) -> Iterator[tuple[int, int, dict[str, str]]]:
    for record in read_results(path / RESULTS_CSV):
        yield int(record["row"]), index, record


def _sheet_rows(shard: ShardDir) -> Iterator[tuple[int, CampaignKey | None]] | None:
    """The sheet's rows (number, campaign) from the run's own copy; None when it has none."""
    sheet = _sheet(shard)
    if sheet is None:
        return None
    return (
        (v.row, v.key)
        for v in iter_verdicts(
            sheet, org=shard.options.get("org"), workspace=shard.options.get("workspace")
        )
    )


def missing_reason(shard: str, sheet: str) -> str:
    return f"shard {shard} is not in this merge: run it ({SEE_STEPS}), then merge again"


def with_missing_rows(
    results: Iterator[tuple[int, int, dict[str, str]]],
    sheet_rows: Iterator[tuple[int, CampaignKey | None]] | None,
    count: int | None,
    sheet: str,
    present: dict[str, int],
) -> Iterator[tuple[int, int | None, str | None, Mapping[str, Any]]]:
    """Every row of the sheet in order, as ``(row, shard index or None, missing shard or None,
    record)``: the shards' own records, and for a row no shard reports, a ``not_attempted``
    record naming the shard it belongs to (``present``: shard -> index of those merged)."""
    pending = next(results, None)
    for row, key in sheet_rows if sheet_rows is not None else ():
        while pending is not None and pending[0] < row:
            yield pending[0], pending[1], None, pending[2]
            pending = next(results, None)
        if pending is not None and pending[0] == row:
            yield pending[0], pending[1], None, pending[2]
            pending = next(results, None)
            continue
        owner = str(Shard(shard_of(key, count) if key else 1, count)) if count else None
        if owner is not None and owner not in present:
            record = report_row(not_attempted(row, key, missing_reason(owner, sheet)))
            yield row, None, owner, record
        else:  # a run directory whose results lack a row of its own: resume it
            why = f"not in the results of shard {owner}" if owner else "not in the run's results"
            yield row, present.get(owner or ""), None, report_row(not_attempted(row, key, why))
    while pending is not None:
        yield pending[0], pending[1], None, pending[2]
        pending = next(results, None)


def _sheet(shard: ShardDir) -> Sheet | None:
    """The shard's own copy of the sheet (None when it has none)."""
    copies = sheet_copies(shard.path)
    if not copies:
        return None
    return open_sheet(copies[0], sheet_name=shard.options.get("sheet_name"))


def checked_split(shards: Sequence[ShardDir]) -> tuple[int | None, list[str]]:
    """The N the shards were split by, and the shards of it missing here; shards of different
    sheets, or two for the same shard, are refused."""
    if len({s.sha256 for s in shards}) != 1:
        raise UsageError(
            "these run directories come from different sheets (their sha256 differ); "
            "merge only the shards of one sheet"
        )
    seen: dict[str, Path] = {}
    for s in shards:
        if s.label in seen:
            raise UsageError(f"{seen[s.label]} and {s.path} are both shard {s.label}; keep one")
        seen[s.label] = s.path
    count = split_of(shards)
    given = {s.shard.index for s in shards if s.shard}
    absent = [f"{k}/{count}" for k in range(1, count + 1) if k not in given] if count else []
    return count, absent


@dataclass
class MergeTally:
    """What the merged rows come to, counted as they are written."""

    outcomes: Counter[str] = field(default_factory=Counter)
    groups: Counter[ReasonGroup] = field(default_factory=Counter)
    to_resume: Counter[int] = field(default_factory=Counter)  # shard index -> rows to resume
    resume_outcomes: dict[int, Counter[str]] = field(default_factory=dict)
    to_run: Counter[str] = field(default_factory=Counter)  # missing shard -> its rows
    retry: set[int] = field(default_factory=set)

    def add(
        self, row: int, index: int | None, owner: str | None, record: Mapping[str, Any]
    ) -> None:
        outcome = str(record["outcome"])
        self.outcomes[outcome] += 1
        if Outcome(outcome).ok:
            return
        group = reason_group(outcome, str(record["reason"] or ""))
        if owner is not None:
            self.to_run[owner] += 1
        elif index is not None and group.action == "resume":
            self.to_resume[index] += 1
            self.resume_outcomes.setdefault(index, Counter())[outcome] += 1
        else:
            self.retry.add(row)
            self.groups[group] += 1


def merged_rows(
    shards: Sequence[ShardDir], count: int | None, sheet_path: str, tally: MergeTally
) -> Iterator[Mapping[str, Any]]:
    """Every row of the sheet in order, from the shards' results (a k-way merge), counted in
    ``tally``; a row in two shards is refused."""
    merged = heapq.merge(*(_rows(s.path, i) for i, s in enumerate(shards)), key=lambda r: r[0])
    present = {str(s.shard): i for i, s in enumerate(shards) if s.shard} or {"": 0}
    last = 0
    for row, index, owner, record in with_missing_rows(
        merged, _sheet_rows(shards[0]), count, sheet_path, present
    ):
        if row == last:
            raise UsageError(f"row {row} is in two of these directories; they overlap")
        last = row
        tally.add(row, index, owner, record)
        yield record


def merge_run_dirs(dirs: Sequence[Path], out: Path) -> tuple[dict[str, Any], list[str]]:
    """Merge shard run directories into ``out``; returns (summary data, warnings)."""
    if not dirs:
        raise UsageError("give the shards' run directories to merge")
    refuse_out_in_inputs(out, dirs)
    shards = [_read_dir(Path(d)) for d in dirs]
    count, absent = checked_split(shards)
    sheet_info = shards[0].summary.get("sheet") or {}
    sheet_path = str(sheet_info.get("path") or "SHEET")
    warnings: list[str] = []
    if absent:
        warnings.append(
            f"shard(s) {', '.join(absent)} are missing: their rows are reported not_attempted "
            "and the merge is not complete"
        )
    staging = fresh_staging(out)
    try:
        tally = MergeTally()
        write_results(staging / RESULTS_CSV, merged_rows(shards, count, sheet_path, tally))
        sheet = _sheet(shards[0])
        if sheet is not None:
            write_retry(sheet, tally.retry, staging)
        stopped = [i for i, s in enumerate(shards) if s.stopped or tally.to_resume[i]]
        left_paused: dict[str, str] = {}
        refused: dict[str, str] = {}
        for s in shards:
            left_paused.update(s.summary.get("campaigns_left_paused") or {})
            refused.update(s.summary.get("keys_refused") or {})
        code = exit_code_for(
            tally.outcomes,
            aborted=bool(stopped or tally.to_run or absent),
            left_paused=len(left_paused),
        )
        steps = [
            *shard_steps(shards, stopped, tally.to_resume, tally.resume_outcomes),
            *missing_steps(tally.to_run, sheet_path, options=options_of(shards[0].options)),
            *next_steps(
                tally.groups,
                out,
                retry_name=retry_name(sheet.kind if sheet else "csv"),
                resumable=False,
                options=_merged(shards[0].options),
            ),
        ]
        fields = merged_fields(shards, sheet_info, absent, warnings)
        fields.update(campaigns_left_paused=left_paused, keys_refused=refused)
        data = summary_content("merge", tally.outcomes, steps, code, fields=fields)
        write_summary(staging / SUMMARY_JSON, data)
        swap_in(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return data, warnings


def merged_fields(
    shards: Sequence[ShardDir], sheet: Mapping[str, Any], absent: list[str], warnings: list[str]
) -> dict[str, Any]:
    """What summary.json says of the shards merged (their counts added up)."""
    return {
        "sheet": dict(sheet) or None,
        "merged": datetime.now(UTC).isoformat(),
        "shards": [
            {
                "shard": str(s.shard) if s.shard else None,
                "run_dir": str(s.path),
                "exit_code": s.summary.get("exit_code"),
            }
            for s in shards
        ],
        "missing_shards": absent,
        "requests": {
            "total": sum(int((s.summary.get("requests") or {}).get("total", 0)) for s in shards)
        },
        "throttled_429": sum(int(s.summary.get("throttled_429", 0)) for s in shards),
        "duration_s": max(float(s.summary.get("duration_s", 0.0)) for s in shards),
        "warnings": warnings,
    }


# ---------------------------------------------------------------------------------------------
# The merged files, replaced as a whole
# ---------------------------------------------------------------------------------------------


def _ours(name: str) -> bool:
    """A file of a merge's output (or its temporary file)."""
    if name.startswith(f".{RETRY_STEM}.") and name.endswith(".tmp"):
        return True
    return any(is_tmp_of(name, target) for target in (RESULTS_CSV, RESULTS_PARQUET, SUMMARY_JSON))


def fresh_staging(out: Path) -> Path:
    """An empty staging directory in ``out`` (made if need be), with whatever an earlier merge
    that was killed left behind removed: its staging directory and its temporary files."""
    staging = out / STAGING
    try:
        out.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
        for entry in out.iterdir():
            if entry.is_file() and _ours(entry.name):
                entry.unlink(missing_ok=True)
        staging.mkdir(mode=0o700)
    except OSError as exc:
        raise UsageError(f"cannot create {out}: {exc.strerror}") from None
    return staging


def swap_in(staging: Path, out: Path) -> None:
    """Rename every file written in ``staging`` into ``out``, summary.json last."""
    names = sorted(p.name for p in staging.iterdir() if p.is_file() and not p.name.startswith("."))
    names.sort(key=lambda name: name == SUMMARY_JSON)
    for name in names:
        os.replace(staging / name, out / name)


def shard_steps(
    shards: Sequence[ShardDir],
    stopped: Sequence[int],
    rows: Counter[int],
    outcomes: dict[int, Counter[str]],
) -> list[NextStep]:
    """A step per shard that stopped (aborted, left a campaign paused, rows not attempted):
    resume that shard's own run directory, with its own options."""
    steps = []
    for i in stopped:
        s = shards[i]
        kinds = outcomes.get(i) or Counter({Outcome.NOT_ATTEMPTED.value: 0})
        outcome = next(iter(kinds)) if len(kinds) == 1 else "other"
        line = command("resume", s.path, options=options_of(s.options), reach="run_dir")
        steps.append(
            NextStep(
                rows[i],
                outcome,
                f"shard {s.label} stopped before its end",
                "continue that shard, then merge again",
                line,
                command_note(line),
            )
        )
    return steps


def _merged(stored: dict[str, Any]) -> RunOptions | None:
    """The options a merged retry file runs with: the shards', but no shard of its own."""
    options = options_of(stored)
    return replace(options, shard=None) if options is not None else None


def missing_steps(
    rows: Counter[str], sheet: str, *, options: RunOptions | None = None
) -> list[NextStep]:
    """A step per missing shard: run it with the options the shards ran with that reach the
    same campaigns the same way (a rate store's password as a placeholder), then merge again."""
    steps = []
    for shard, n in sorted(rows.items(), key=lambda item: parse_shard(item[0]).index):
        line = command("run", sheet, "--shard", shard, options=options, planning=True)
        note = command_note(line)
        steps.append(
            NextStep(
                n,
                Outcome.NOT_ATTEMPTED.value,
                f"shard {shard} is not in this merge",
                "run that shard, then merge again",
                line,
                note,
            )
        )
    return steps
