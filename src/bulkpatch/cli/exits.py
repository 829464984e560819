"""The one map from what happened to the process's exit code, for every command.

    0   every row updated or unchanged (or: the sheet is valid)
    1   the run finished and some rows did not
    2   usage error, unreadable or invalid sheet, bad key source, busy: nothing was sent
    3   aborted (bad key, long outage, interrupt, a campaign left paused, a storage failure
        after sending): ``bulkpatch resume RUN_DIR`` continues it.  Ctrl-C gives 3 in every
        command.
    70  internal error (a bug): one line on screen, the traceback in the run directory (or a
        temporary file when there is none)

:func:`guarded` runs a command's body and applies the map; the body returns 0/1/3 itself when
a run finishes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bulkpatch.cli.screen import PlainConsole
from bulkpatch.core.errors import InternalError, InvalidSheetError, leaf_error
from bulkpatch.core.failures import ending_error, exit_code_of
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.text import printable

if TYPE_CHECKING:
    from bulkpatch.cli.screen import Screen

#: Problems listed on screen before "… and N more".
SHOWN_PROBLEMS = 50

__all__ = ["ErrorLog", "exit_code_of", "guarded", "report_error", "say_error"]

#: ``--log-format json``: writes a fatal error as one JSON line (exit code, message, problems).
ErrorLog = Callable[[int, str, Sequence[str]], None]


def say_error(console: Screen, text: str) -> None:
    if isinstance(console, PlainConsole):
        console.print("error: " + printable(text))
        return
    # rich loads only when it draws on a terminal
    from rich.text import Text

    line = Text("error: ", style="bold red")
    line.append(printable(text))
    console.print(line, highlight=False, soft_wrap=True)  # paths and commands stay whole


def _save_traceback(error: BaseException) -> Path | None:
    try:
        fd, name = tempfile.mkstemp(prefix="bulkpatch-traceback-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            traceback.print_exception(error, file=f)
        return Path(name)
    except OSError:
        return None


def report_error(
    console: Screen, error: BaseException, *, as_json: ErrorLog | None = None
) -> ExitCode:
    """Say what went wrong, in one or a few lines (or, with ``as_json``, one JSON line), and
    give the exit code."""
    error = ending_error(error)
    code = exit_code_of(error)
    problems: list[str] = []
    if isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    elif code is ExitCode.INTERNAL:
        where = error.traceback_path if isinstance(error, InternalError) else None
        if where is None:
            where = _save_traceback(error)
        kind = type(leaf_error(error.__cause__ or error)).__name__
        message = f"internal error ({kind}) in bulkpatch: please report it" + (
            f", with the traceback in {where}" if where else ""
        )
        if os.environ.get("BULKPATCH_DEBUG"):
            traceback.print_exception(error, file=sys.stderr)
    else:
        message = str(error)
        if isinstance(error, InvalidSheetError):
            problems = [printable(str(p)) for p in error.problems[:SHOWN_PROBLEMS]]
            if len(error.problems) > SHOWN_PROBLEMS:
                problems.append(
                    f"… and {len(error.problems) - SHOWN_PROBLEMS:,} more "
                    "(`bulkpatch validate` lists every problem)"
                )
    if as_json is not None:
        as_json(int(code), printable(message), problems)
        return code
    if isinstance(error, KeyboardInterrupt) or code is ExitCode.INTERNAL:
        console.print(message, highlight=False, markup=False, soft_wrap=True)
        return code
    for problem in problems:
        console.print(f"  {problem}", highlight=False, markup=False)
    say_error(console, message)
    return code


def guarded(body: Callable[[], int], console: Screen, *, as_json: ErrorLog | None = None) -> int:
    """Run a command's body; turn what escapes into a message (or a JSON line) and an exit
    code."""
    try:
        return body()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return int(ExitCode.USAGE)
    except (Exception, KeyboardInterrupt) as error:
        return int(report_error(console, error, as_json=as_json))
