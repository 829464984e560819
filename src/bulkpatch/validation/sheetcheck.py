"""The whole sheet: one read, each row validated once (:func:`check_sheet`); then the run's
streaming pass (:func:`iter_verdicts`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.rows import CampaignKey, Problem, RowVerdict
from bulkpatch.sheet import DEFAULT_BATCH_SIZE, Sheet, SheetKind, open_sheet
from bulkpatch.sheet.frames import keys_of
from bulkpatch.validation.columnar import FrameValidator
from bulkpatch.validation.found import NO_READ_KEPT, Found
from bulkpatch.validation.framepass import FramePass, Reuse, reused_verdicts
from bulkpatch.validation.row import RowValidator
from bulkpatch.validation.spill import Spill

__all__ = ["NO_READ_KEPT", "SheetCheck", "check_sheet", "iter_verdicts"]


@dataclass(slots=True)
class SheetCheck:
    """What :func:`check_sheet` found: counts, and every problem with the sheet and its rows.

    The row numbers the streaming pass (:func:`iter_verdicts`) yields are known from it without
    reading again: every number from :attr:`first_row` to :attr:`last_row` that is not in
    :attr:`blank_row_numbers` (see :meth:`row_numbers`).
    """

    path: Path
    kind: SheetKind
    columns: tuple[str, ...]
    #: Data rows checked (blank rows are not counted).
    rows: int
    #: Problems with the sheet as a whole (row 0): header, defaults, no data rows.
    header_problems: list[Problem]
    #: Every row problem, duplicates included, in row order.
    problems: list[Problem]
    #: Rows that must not be applied.
    invalid_rows: frozenset[int]
    #: Rows skipped because every cell was empty (before the last row that is not).
    blank_rows: int = 0
    #: The number of the first data row: 1, or 2 for ``.xlsx`` (Excel's numbering).
    first_row: int = 1
    #: The number of the last row that is not blank (``first_row - 1`` when there is none).
    last_row: int = 0
    #: The blank rows between :attr:`first_row` and :attr:`last_row`.
    blank_row_numbers: frozenset[int] = frozenset()
    #: With ``no_read=True``: the first :data:`NO_READ_KEPT` reasons why a row without
    #: problems of its own cannot be applied without reading its campaign first.
    no_read_problems: list[Problem] = field(default_factory=list)
    #: All such reasons, counted.
    no_read_problem_count: int = 0
    #: The rows that have such reasons.
    no_read_rows: frozenset[int] = frozenset()
    #: With ``collect_keys=True``: every row with valid ids, in sheet order: its campaign and
    #: its ``expect.`` guards (path -> value; the guards that are valid).
    keys: list[tuple[CampaignKey, dict[str, Any]]] = field(default_factory=list)
    #: With ``holds``: the data rows of the run's shard (None when the run is not sharded).
    shard_rows: int | None = None
    #: With ``keep=True`` (a sheet read as frames): the judgement the run's streaming pass
    #: reuses (:func:`iter_verdicts`), so that no row is validated twice.
    reuse: Reuse | None = field(default=None, repr=False)
    _by_row: dict[int, list[Problem]] | None = field(default=None, repr=False)

    @property
    def valid_rows(self) -> int:
        return self.rows - len(self.invalid_rows)

    @property
    def ok(self) -> bool:
        """True when the sheet may be run as it is: no sheet problem and no invalid row."""
        return not self.header_problems and not self.invalid_rows

    def row_numbers(self) -> Iterator[int]:
        """The row numbers :func:`iter_verdicts` yields, in order."""
        blank = self.blank_row_numbers
        return (n for n in range(self.first_row, self.last_row + 1) if n not in blank)

    def problems_of(self, row: int) -> list[Problem]:
        """The problems of one row."""
        if self._by_row is None:
            by_row: dict[int, list[Problem]] = {}
            for problem in self.problems:
                by_row.setdefault(problem.row, []).append(problem)
            self._by_row = by_row
        return self._by_row.get(row, [])

    def summary(self) -> str:
        """One line: ``1,000 rows: 998 valid, 2 invalid``."""
        noun = "row" if self.rows == 1 else "rows"
        invalid = len(self.invalid_rows)
        if self.header_problems:
            count = len(self.header_problems)
            return (
                f"{self.rows:,} {noun}: {invalid:,} invalid, and {count:,} sheet "
                f"problem{'s' if count != 1 else ''} that stop{'s' if count == 1 else ''} "
                "the whole sheet"
            )
        return f"{self.rows:,} {noun}: {self.valid_rows:,} valid, {invalid:,} invalid"


def check_sheet(
    source: str | Path | Sheet,
    *,
    org: str | None = None,
    workspace: str | None = None,
    no_read: bool = False,
    collect_keys: bool = False,
    progress: Callable[[int], None] | None = None,
    fmt: str | None = None,
    sheet_name: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    holds: Callable[[CampaignKey | None], bool] | None = None,
    keep: bool = False,
) -> SheetCheck:
    """Read and check every row of a sheet, offline: one read, each row validated once.

    A CSV or ``.xlsx`` sheet is judged column by column (:mod:`.columnar`), the rows that a
    column-wise rule cannot accept row by row; a Parquet sheet row by row.  That same pass also
    finds, with ``no_read=True``, why rows cannot go without a GET
    (:attr:`SheetCheck.no_read_problems`), and with ``collect_keys=True`` every campaign and its
    guards (:attr:`SheetCheck.keys`).  Raises :class:`~bulkpatch.sheet.SheetError` when the file
    cannot be read; every problem with its content is data in the returned :class:`SheetCheck`.
    ``progress`` is called after each batch with the number of rows checked so far.  ``holds``
    (a shard's :meth:`~bulkpatch.core.shards.Shard.holds`) has the rows of that shard counted
    (:attr:`SheetCheck.shard_rows`).  ``keep=True`` keeps what the streaming pass of the same
    sheet needs (:attr:`SheetCheck.reuse`), so that it validates no row again; as it is a run's
    check, it reads a CSV in lean frames (:meth:`~bulkpatch.sheet.Sheet.iter_frames`).
    """
    sheet = (
        source if isinstance(source, Sheet) else open_sheet(source, fmt=fmt, sheet_name=sheet_name)
    )
    validator = RowValidator(sheet.columns, org=org, workspace=workspace, copy_values=keep)
    found = Found(no_read=no_read, collect_keys=collect_keys, expected=sheet.first_row)
    reuse: Reuse | None = None
    if sheet.framer is not None:
        frames = FrameValidator(validator, keys_of(sheet), no_read=no_read)
        # A run checks its own copy of the sheet: what it keeps goes beside it, in the run's folder.
        reuse = Reuse(frames, Spill(sheet.path.parent)) if keep else None
        judge = FramePass(frames, found, holds, reuse)
        frames_read = sheet.iter_frames(batch_size, lean=keep)
        _report(frames_read, judge.frame, found, batch_size, progress)
    else:
        _read(sheet, validator, found, batch_size, progress, holds)
    found.finish()
    header = list(validator.header_problems)
    if found.rows == 0:
        header.append(Problem(0, "", "", "the sheet has a header but no data rows: nothing to do"))
    return SheetCheck(
        path=sheet.path,
        kind=sheet.kind,
        columns=sheet.columns,
        rows=found.rows,
        header_problems=header,
        problems=found.problems,
        invalid_rows=frozenset(found.invalid),
        blank_rows=len(found.blank),
        first_row=sheet.first_row,
        last_row=found.expected - 1,
        blank_row_numbers=frozenset(found.blank),
        no_read_problems=found.no_read_kept,
        no_read_problem_count=found.no_read_count,
        no_read_rows=frozenset(found.no_read_rows),
        keys=found.keys,
        shard_rows=found.shard_rows if holds is not None else None,
        reuse=reuse,
    )


def _report(
    frames: Iterator[tuple[int, Any]],
    judge: Callable[[int, Any], None],
    found: Found,
    batch_size: int,
    progress: Callable[[int], None] | None,
) -> None:
    """Judge every frame, calling ``progress`` about every ``batch_size`` rows."""
    next_report = batch_size
    for start, frame in frames:
        judge(start, frame)
        if progress is not None and found.rows >= next_report:
            progress(found.rows)
            next_report = (found.rows // batch_size + 1) * batch_size
    if progress is not None:
        progress(found.rows)


def _read(
    sheet: Sheet,
    validator: RowValidator,
    found: Found,
    batch_size: int,
    progress: Callable[[int], None] | None,
    holds: Callable[[CampaignKey | None], bool] | None,
) -> None:
    """The pass row by row: every row validated once, what it shows noted in ``found``."""
    examine = validator.examine
    problems = found.problems
    next_report = batch_size
    for row, cells in sheet.iter_rows(batch_size):
        found.rows += 1
        found.skip_blanks(row)
        ids, row_problems, changes, expects = examine(row, cells)
        if holds is not None and holds(CampaignKey(*ids) if ids is not None else None):
            found.shard_rows += 1
        if row_problems:
            problems.extend(row_problems)
            found.invalid.add(row)
        if ids is not None:
            found.campaign(row, ids, not row_problems, changes, expects)
        if progress is not None and found.rows >= next_report:
            progress(found.rows)
            next_report += batch_size
    if progress is not None:
        progress(found.rows)


def iter_verdicts(
    sheet: Sheet,
    *,
    org: str | None = None,
    workspace: str | None = None,
    check: SheetCheck | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[RowVerdict]:
    """Stream a verdict per row, in order: the run's single pass (one read, one validation per
    row).

    A row's own problems are found here; problems that span rows (duplicates) are known only
    after the whole sheet, from :func:`check_sheet`.  A ``check`` made with ``keep=True`` is
    reused: no row is validated again.  Pass that ``check`` to have them merged in:
    a row in ``check.invalid_rows`` then never comes out valid, and carries its problems.
    """
    if check is not None and check.reuse is not None:
        yield from reused_verdicts(
            sheet, check.problems_of, check.invalid_rows, check.reuse, batch_size
        )
        return
    validator = RowValidator(sheet.columns, org=org, workspace=workspace)
    invalid = check.invalid_rows if check is not None else frozenset()
    for row, cells in sheet.iter_rows(batch_size):
        verdict = validator.validate(row, cells)
        if check is not None and verdict.ok and row in invalid:
            verdict = RowVerdict(
                row=row,
                key=verdict.key,
                change=None,
                problems=tuple(check.problems_of(row))
                or (Problem(row, "", "", "marked invalid by the sheet check"),),
            )
        yield verdict
