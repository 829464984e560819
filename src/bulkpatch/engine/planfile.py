"""The plan directory of ``bulkpatch plan SHEET --out PLAN_DIR``: what a reviewer approves.

=====================  =========================================================================
``plan.csv``           per row: the outcome it would get, ``field: old -> new``, the campaign's
                       status and ``updated_at`` as read (the plan's own report)
``plan.html``          the same, for a reviewer: counts, filters, sortable table; offline
``plan-rows.jsonl``    per row, exactly: outcome, ``updated_at`` read, ``[path, old, new]`` per
                       change -- what ``run --plan`` holds each row to
the sheet             the sheet the plan was made from, byte for byte, under its own name
``plan.json``          the sheet's sha256, the options, the counts, the sha256 of every file
                       above, and the plan's ``digest``
=====================  =========================================================================

The digest is the SHA-256 of ``plan.json``'s facts (format, sheet sha256, options, counts, the
sha256 of plan.csv, plan-rows.jsonl and the sheet copy), so one short string names exactly one
plan: a reviewer approves it, ``run --plan`` prints it and records it.  :func:`load_plan` checks
every file against ``plan.json`` and the digest against the facts, and refuses a plan directory
in which anything changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import StorageError, UsageError
from bulkpatch.core.events import Event, EventSink, RowFinished, RunFinished
from bulkpatch.core.results import FieldChange, RowResult
from bulkpatch.html.planpage import PLAN_ROWS_SHOWN, write_plan_page
from bulkpatch.rundir.files import atomic_text, write_json
from bulkpatch.rundir.names import PLAN_CSV, PLAN_HTML, PLAN_JSON, PLAN_ROWS, SHEET_STEM, tmp_name
from bulkpatch.sheet import file_sha256
from bulkpatch.version import __version__

#: plan.json's format; a reader refuses a newer one.
PLAN_FORMAT = 1


def canonical(value: Any) -> str:
    """One JSON text per value: sorted keys, no spaces (digests and comparisons use it)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def changes_list(changes: tuple[FieldChange, ...]) -> list[list[Any]]:
    return [[c.path, c.old, c.new] for c in changes]


def plan_entry(result: RowResult) -> dict[str, Any]:
    """A row of ``plan-rows.jsonl``: what the plan says of it, exactly."""
    return {
        "row": result.row,
        "campaign": str(result.key) if result.key is not None else None,
        "outcome": result.outcome.value,
        "reason": result.reason,
        "status": result.campaign_status,
        "updated_at": result.updated_at,
        "changes": changes_list(result.changes),
    }


class PlanCollector:
    """An event sink that keeps each planned row (as canonical JSON) and passes every event on,
    but the last: :attr:`finished` holds it until the plan directory is written."""

    def __init__(self, inner: EventSink) -> None:
        self._inner = inner
        self.rows: dict[int, str] = {}
        self.finished: RunFinished | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, RowFinished):
            self.rows[event.result.row] = canonical(plan_entry(event.result))
        if isinstance(event, RunFinished):
            self.finished = event
            return
        self._inner(event)

    # The command line's display is reached through the collector.
    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _digest(facts: Mapping[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical(facts).encode()).hexdigest()


def _facts(plan: Mapping[str, Any]) -> dict[str, Any]:
    """What the digest covers: everything in plan.json but the digest, the creation time and
    plan.html's sha256 (the page shows the digest, so it cannot be part of it)."""
    files = {k: v for k, v in dict(plan.get("files") or {}).items() if k != PLAN_HTML}
    sheet = plan.get("sheet")
    sheet = sheet if isinstance(sheet, dict) else {}
    return {
        "format": plan.get("format"),
        "sheet": sheet.get("sha256"),
        "sheet_file": sheet.get("file"),
        "options": plan.get("options"),
        "counts": plan.get("counts"),
        "rows": plan.get("rows"),
        "files": files,
    }


def _page_rows(rows: Mapping[int, str]) -> Iterator[dict[str, Any]]:
    for n in sorted(rows)[:PLAN_ROWS_SHOWN]:
        entry = json.loads(rows[n])
        yield {
            "row": entry["row"],
            "campaign": entry["campaign"],
            "outcome": entry["outcome"],
            "reason": entry["reason"],
            "campaign_status": entry["status"],
            "updated_at": entry["updated_at"],
            "changes": entry["changes"],
        }


def prepare_plan_dir(out: Path) -> None:
    """Refuse a PLAN_DIR that holds anything: a plan is never overwritten."""
    try:
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UsageError(
                f"{out} already exists and is not an empty directory; a plan is never "
                "overwritten: choose a new --out directory"
            )
    except OSError as exc:
        raise UsageError(f"cannot use {out} as the plan directory: {exc.strerror or exc}") from None


def write_plan_dir(out: Path, **facts: Any) -> dict[str, Any]:
    """Write the plan directory from a finished plan run (``facts``: the keywords of
    :func:`_write_plan_files`); returns plan.json's content.  All or nothing: when a file cannot
    be written (a full disk), what was written is removed, and PLAN_DIR is left as it was found
    (absent or empty) for the next try."""
    prepare_plan_dir(out)
    existed = out.exists()
    try:
        return _write_plan_files(out, **facts)
    except BaseException:
        _clear(out, remove=not existed)
        raise


def _clear(out: Path, *, remove: bool) -> None:
    """Empty ``out`` (it was empty before this plan), and remove it when it was made here."""
    with contextlib.suppress(OSError):
        for child in out.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        if remove:
            out.rmdir()


def _write_plan_files(
    out: Path,
    *,
    run_dir: Path,
    sheet_copy: Path,
    sheet_sha256: str,
    sheet_shown: str,
    rows: Mapping[int, str],
    options: Mapping[str, Any],
    counts: Mapping[str, int],
    created: str | None = None,
) -> dict[str, Any]:
    """Write the plan's files into ``out`` (checked to be absent or empty)."""
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
        sheet_name = _copy_name(sheet_shown, sheet_copy.suffix)
        _copy(sheet_copy, out / sheet_name)
        _copy(run_dir / PLAN_CSV, out / PLAN_CSV)
        with atomic_text(out / PLAN_ROWS) as f:
            for n in sorted(rows):
                f.write(rows[n] + "\n")
        files = {name: file_sha256(out / name) for name in (PLAN_CSV, PLAN_ROWS, sheet_name)}
    except OSError as exc:
        raise StorageError(f"cannot write the plan into {out}: {exc.strerror or exc}") from None
    if files[sheet_name] != sheet_sha256:
        raise StorageError(f"the sheet's copy in {out} differs from the sheet planned; try again")
    plan: dict[str, Any] = {
        "format": PLAN_FORMAT,
        "bulkpatch": __version__,
        "created": created or datetime.now(UTC).isoformat(),
        "sheet": {"path": sheet_shown, "file": sheet_name, "sha256": sheet_sha256},
        "options": dict(options),
        "counts": dict(counts),
        "rows": len(rows),
        "plan_run": str(run_dir),
        "files": files,
    }
    plan["digest"] = _digest(_facts(plan))
    try:
        write_plan_page(
            out / PLAN_HTML,
            _page_rows(rows),
            {
                "sheet": sheet_shown,
                "sha256": sheet_sha256,
                "digest": plan["digest"],
                "created": plan["created"],
                "options": plan["options"],
                "counts": plan["counts"],
            },
        )
        plan["files"][PLAN_HTML] = file_sha256(out / PLAN_HTML)
        write_json(out / PLAN_JSON, plan)
    except OSError as exc:
        raise StorageError(f"cannot write the plan into {out}: {exc.strerror or exc}") from None
    return plan


def _copy_name(shown: str, suffix: str) -> str:
    """The sheet's own file name (so that ``run --plan`` names its run directory after it),
    unless it is one of the plan's files."""
    name = Path(shown).name
    if name in (PLAN_JSON, PLAN_CSV, PLAN_HTML, PLAN_ROWS) or Path(name).suffix != suffix:
        return SHEET_STEM + suffix
    return name


def _copy(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` whole or not at all, 0600 from the start."""
    tmp = dst.with_name(tmp_name(dst.name))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as copy, src.open("rb") as original:
            shutil.copyfileobj(original, copy)
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# Reading a plan back
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedRow:
    """What the approved plan says of one row."""

    row: int
    campaign: str | None
    outcome: str
    updated_at: str | None
    #: ``canonical(changes)``: compared with the run's own plan of the row.
    changes: str


@dataclass(frozen=True)
class LoadedPlan:
    """A plan directory, checked: nothing in it changed since it was written."""

    path: Path
    data: Mapping[str, Any]
    sheet: Path
    rows: Mapping[int, PlannedRow] = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return str(self.data["digest"])

    @property
    def sheet_sha256(self) -> str:
        return str(self.data["sheet"]["sha256"])

    @property
    def options(self) -> dict[str, Any]:
        return dict(self.data.get("options") or {})

    def record(self) -> dict[str, Any]:
        """The plan as the journal and summary.json name it."""
        return {
            "dir": str(self.path.resolve()),
            "digest": self.digest,
            "sheet_sha256": self.sheet_sha256,
            "rows_sha256": self.data["files"][PLAN_ROWS],
            "created": self.data.get("created"),
        }


def _changed(path: Path, what: str) -> UsageError:
    return UsageError(
        f"{path}: {what} since the plan was made, so it is no longer the plan that was "
        "approved; nothing was sent. Make a new plan (`bulkpatch plan SHEET --out DIR`) and "
        "have it approved"
    )


def load_plan(
    plan_dir: Path, *, plan_json: str = PLAN_JSON, rows_file: str | None = None
) -> LoadedPlan:
    """Read and check a plan directory: every file's sha256 and the digest.

    ``plan_json`` / ``rows_file`` name the files when they were copied under other names (a run
    directory keeps ``approved-plan.json`` and ``approved-plan-rows.jsonl``); there only the
    rows and plan.json itself are checked.
    """
    where = plan_dir / plan_json
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{plan_dir} holds no {plan_json}: is it a plan directory (`bulkpatch plan SHEET "
            "--out DIR`)?"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {where}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise _changed(where, "it is not a plan.json bulkpatch wrote")
    fmt = data.get("format")
    if not isinstance(fmt, int) or fmt > PLAN_FORMAT:
        raise UsageError(
            f"{where} was written by a newer bulkpatch ({data.get('bulkpatch')!r}, format "
            f"{fmt!r}); use that version to apply it"
        )
    if data.get("digest") != _digest(_facts(data)):
        raise _changed(where, "its content does not match its digest (it was edited)")
    files: dict[str, str] = data["files"]
    renamed = {PLAN_ROWS: rows_file} if rows_file is not None else {}
    for name, sha in files.items():
        if rows_file is not None and name != PLAN_ROWS:
            continue
        path = plan_dir / renamed.get(name, name)
        try:
            actual = file_sha256(path)
        except (OSError, UsageError):
            raise _changed(path, "it is missing or unreadable") from None
        if actual != sha:
            raise _changed(path, "it changed (sha256)")
    rows = _read_rows(plan_dir / renamed.get(PLAN_ROWS, PLAN_ROWS))
    sheet = plan_dir / str(data["sheet"]["file"])
    return LoadedPlan(path=plan_dir, data=data, sheet=sheet, rows=rows)


def _read_rows(path: Path) -> dict[int, PlannedRow]:
    rows: dict[int, PlannedRow] = {}
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            entry = json.loads(line)
            rows[int(entry["row"])] = PlannedRow(
                row=int(entry["row"]),
                campaign=entry.get("campaign"),
                outcome=str(entry.get("outcome")),
                updated_at=entry.get("updated_at"),
                changes=canonical(entry.get("changes") or []),
            )
    return rows
