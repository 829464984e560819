"""Before anything is sent: the sheet a session runs, checked once.

:func:`own_copy` opens a resumed run's own copy of its sheet (the original path is only
informational); :func:`checked_sheet` checks the sheet in one pass and refuses, with every
problem, a sheet that cannot be run as asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bulkpatch.core.errors import InvalidSheetError, JournalError, UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.shards import Shard
from bulkpatch.rundir.journal import JournalState
from bulkpatch.rundir.names import sheet_copies
from bulkpatch.sheet import Sheet, file_sha256, open_sheet
from bulkpatch.transport.keysfile import ResolvedKey
from bulkpatch.validation import SheetCheck, check_sheet


def own_copy(
    run_dir: Path, prior: JournalState, original: Path, sheet_name: str | None
) -> tuple[Sheet, str, str]:
    """The run's own copy of the sheet, its sha256, and a note when the original has changed
    or gone since the run started ("" when it has not)."""
    assert prior.start is not None
    copies = sheet_copies(run_dir)
    if not copies:
        raise JournalError(f"{run_dir} holds no copy of its sheet (sheet.csv, ...)")
    copy = copies[0]
    sha = file_sha256(copy)
    if sha != prior.start.get("sha256"):
        raise JournalError(
            f"{copy} differs from the sheet the run started with (sha256); it cannot be "
            "resumed. Start a new run"
        )
    try:
        moved = not original.is_file() or file_sha256(original) != sha
    except OSError:
        moved = True
    note = (
        f"the sheet {original} is gone or has changed since the run started; resume continues "
        f"the run's own copy {copy}"
        if moved
        else ""
    )
    return open_sheet(copy, sheet_name=sheet_name), sha, note


def checked_sheet(
    sheet: Sheet,
    options: RunOptions,
    mode: str,
    org_keys: Mapping[str, ResolvedKey],
    shard: Shard | None = None,
) -> SheetCheck:
    """Check every row once; raise when the sheet must not run as asked (nothing sent).  With a
    ``shard``, the same pass counts its rows (:attr:`SheetCheck.shard_rows`).  The check keeps
    its judgement (``keep=True``): the streaming pass (``work_items``) validates no row again."""
    check = check_sheet(
        sheet,
        org=options.org,
        workspace=options.workspace,
        no_read=options.no_read,
        collect_keys=options.simulate or bool(org_keys),
        holds=shard.holds if shard is not None else None,
        keep=True,
    )
    if check.header_problems:
        raise InvalidSheetError(
            "the sheet cannot be applied as it is; nothing was sent", check.header_problems
        )
    if check.invalid_rows and mode == "run" and not options.skip_invalid:
        raise InvalidSheetError(
            f"{len(check.invalid_rows)} of {check.rows} rows are invalid; nothing was sent. "
            "Fix them (`bulkpatch validate` lists every problem) or pass --skip-invalid "
            "to apply the valid rows and report the others as invalid",
            check.problems,
        )
    if org_keys:
        missing = sorted({key.org_id for key, _ in check.keys} - set(org_keys))
        if missing:
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            raise UsageError(
                f"the keys file {options.keys_file} gives no key for org(s) "
                f"{', '.join(missing[:10])}{more}, which the sheet names; add them, or remove "
                "their rows; nothing was sent"
            )
    if options.no_read and check.no_read_problems:
        raise InvalidSheetError(
            "--no-read needs every change to be a top-level field or a whole object "
            "(the API replaces allowed_schedule and app_config whole); drop --no-read",
            check.no_read_problems,
        )
    return check
