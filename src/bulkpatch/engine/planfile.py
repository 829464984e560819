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

The digest is the SHA-256 of every file of the directory, from their bytes (plan.html's with the
digest it shows left out: a digest cannot cover itself), and of everything plan.json says but the
digest and the files' sha256 it repeats, so one short string names exactly one plan.  The
reviewer approves the digest the page shows; ``run --plan DIR --approved-digest SHA256`` computes
it again from the files and applies the plan only if it is that one.  plan.json's own ``digest``
and ``files`` only name what changed: a directory whose files were edited and plan.json
re-hashed to match still has another digest than the one approved.  :func:`load_plan` refuses a
plan directory in which anything changed.
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

from bulkpatch.core.errors import BulkpatchError, StorageError, UsageError
from bulkpatch.core.events import Event, EventSink, RowFinished, RunFinished
from bulkpatch.core.results import FieldChange, RowResult
from bulkpatch.core.rules import NO_APPROVED_DIGEST as NO_APPROVED_DIGEST
from bulkpatch.rundir.files import atomic_text, write_json
from bulkpatch.rundir.names import PLAN_CSV, PLAN_HTML, PLAN_JSON, PLAN_ROWS, SHEET_STEM, tmp_name
from bulkpatch.sheet import file_sha256
from bulkpatch.version import __version__

#: plan.json's format; a reader refuses a newer one (and an older one: its digest covered less).
PLAN_FORMAT = 2
_HEX = frozenset("0123456789abcdef")


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


def _file_hash(path: Path) -> str:
    """A file's sha256 as the digest counts it (plan.html without the digest it shows)."""
    if path.name != PLAN_HTML:
        return file_sha256(path)
    if not path.is_file() or path.is_symlink():
        raise UsageError(f"{path} is not a regular file")
    # start-up cost: the plan page's renderer loads only for a plan directory, not for a run
    from bulkpatch.html.planpage import without_digest

    return hashlib.sha256(without_digest(path.read_bytes())).hexdigest()


def directory_digest(plan_dir: Path, plan: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """The plan's digest from what is in ``plan_dir`` (every file but plan.json, from its bytes)
    and what ``plan`` (plan.json's content) says, and each file's sha256 as it counts it.
    Raises ``OSError`` / :class:`UsageError` for a file that cannot be read."""
    files = {
        entry.name: _file_hash(entry)
        for entry in sorted(plan_dir.iterdir(), key=lambda p: p.name)
        if entry.name != PLAN_JSON
    }
    facts = {k: v for k, v in plan.items() if k not in ("digest", "files")}
    return _digest({"plan": facts, "files": files}), files


def approved_digest(value: str) -> str:
    """A digest as a reviewer copies it (``sha256:HEX`` or ``HEX``), as plan.json writes it;
    :class:`UsageError` for anything else."""
    hexpart = value.strip().lower().removeprefix("sha256:")
    if len(hexpart) != 64 or not set(hexpart) <= _HEX:
        raise UsageError(
            f"--approved-digest {value.strip()[:80]!r} is not a plan's digest: copy it from "
            "plan.html or from what `bulkpatch plan --out` printed (sha256: and 64 hex digits)"
        )
    return "sha256:" + hexpart


def _page_rows(rows: Mapping[int, str], shown: int) -> Iterator[dict[str, Any]]:
    for n in sorted(rows)[:shown]:
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
    meta = {
        "sheet": sheet_shown,
        "sha256": sheet_sha256,
        "created": plan["created"],
        "options": plan["options"],
        "counts": plan["counts"],
    }
    # start-up cost: as in _file_hash
    from bulkpatch.html.planpage import PLAN_ROWS_SHOWN, write_plan_page

    try:
        # The page first without the digest (which covers it), then again showing it.
        shown = PLAN_ROWS_SHOWN
        write_plan_page(out / PLAN_HTML, _page_rows(rows, shown), {**meta, "digest": ""})
        plan["digest"], plan["files"] = directory_digest(out, plan)
        write_plan_page(
            out / PLAN_HTML, _page_rows(rows, shown), {**meta, "digest": plan["digest"]}
        )
        write_json(out / PLAN_JSON, plan)
    except (OSError, UsageError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise StorageError(f"cannot write the plan into {out}: {why}") from None
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
    #: The digest the run was told was approved (``--approved-digest``), checked to be the plan's.
    approved: str | None = None

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
            "approved_digest": self.approved,
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
    plan_dir: Path,
    *,
    approved: str | None = None,
    plan_json: str = PLAN_JSON,
    rows_file: str | None = None,
) -> LoadedPlan:
    """Read and check a plan directory: each file against plan.json, plan.json's digest against
    the files, and -- given ``approved``, the digest a reviewer approved -- the digest computed
    from the files against it (see the module's doc).

    ``plan_json`` / ``rows_file`` name the files when they were copied under other names (a run
    directory keeps ``approved-plan.json`` and ``approved-plan-rows.jsonl``); there only the
    rows are checked (the digest that run was held to is in its journal).
    """
    where = plan_dir / plan_json
    data = _read_plan_json(plan_dir, where)
    if rows_file is None:
        _check_directory(plan_dir, data, approved)
    else:
        path = plan_dir / rows_file
        try:
            actual = file_sha256(path)
        except (OSError, BulkpatchError):
            raise _changed(path, "it is missing or unreadable") from None
        if actual != data["files"].get(PLAN_ROWS):
            raise _changed(path, "it changed (sha256)")
    rows = _read_rows(plan_dir / (rows_file or PLAN_ROWS))
    sheet = plan_dir / str(data["sheet"]["file"])
    checked = approved_digest(approved) if approved is not None else None
    return LoadedPlan(path=plan_dir, data=data, sheet=sheet, rows=rows, approved=checked)


def _read_plan_json(plan_dir: Path, where: Path) -> dict[str, Any]:
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(
            f"{plan_dir} holds no {where.name}: is it a plan directory (`bulkpatch plan SHEET "
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
    return data


def _check_directory(plan_dir: Path, data: dict[str, Any], approved: str | None) -> None:
    """Every file as plan.json names it, the digest from the files, the approved digest."""
    where = plan_dir / PLAN_JSON
    if data.get("format") != PLAN_FORMAT:
        raise _changed(where, "it was made by an older bulkpatch, whose digest covered less")
    stated: dict[str, str] = data["files"]
    for name in stated:
        if not (plan_dir / name).is_file():
            raise _changed(plan_dir / name, "it is missing")
    try:
        digest, files = directory_digest(plan_dir, data)
    except (OSError, BulkpatchError) as exc:
        raise _changed(plan_dir, f"a file cannot be read ({exc})") from None
    for name, sha in files.items():
        if name not in stated:
            raise _changed(plan_dir / name, "it was added")
        if sha != stated[name]:
            raise _changed(plan_dir / name, "it changed (sha256)")
    if data.get("digest") != digest:
        raise _changed(where, "its content does not match its digest (it was edited)")
    if approved is not None and digest != approved_digest(approved):
        raise UsageError(
            f"{plan_dir}: its digest is {digest}, not the approved {approved_digest(approved)} "
            "(--approved-digest): it changed since it was approved, or that is not the digest "
            "the reviewer approved; nothing was sent. Apply the plan that was approved, or make "
            "a new plan (`bulkpatch plan SHEET --out DIR`) and have it approved"
        )


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
