"""Every error bulkpatch raises on purpose, in one tree.  ``str(error)`` is a whole sentence that
says what is wrong and how to fix it; the command line turns each kind into one exit code
(``bulkpatch.cli.exits``).

    BulkpatchError
     ├── UsageError             bad input: options, sheet, key, run directory given (exit 2,
     │    │                     nothing sent)
     │    ├── SheetError        the sheet cannot be read
     │    ├── InvalidSheetError the sheet has problems (``.problems`` lists them)
     │    ├── CredentialsError  the key (or keys file) cannot be read or used
     │    ├── JournalError      a run directory's journal cannot be continued
     │    └── BusyError         another bulkpatch is already doing this work
     ├── StorageError           the report directory failed (full, read-only, ...): exit 2 if
     │                          nothing was sent yet, else 3 (resumable)
     ├── WindowClosedError      outside the change window with ``--no-wait``: nothing was sent
     │                          (exit 75)
     └── InternalError          a bug: the traceback was saved (exit 70)

A row's failure is never an exception: it is an outcome (``bulkpatch.core.outcomes``).  Anything
else that escapes is a bug: exit 70, with the traceback in the run directory.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class BulkpatchError(Exception):
    """Base of the errors bulkpatch raises on purpose."""


class UsageError(BulkpatchError):
    """Bad input from the user: the message says what to do.  Nothing was sent."""


class SheetError(UsageError):
    """The sheet cannot be read."""


class InvalidSheetError(UsageError):
    """The sheet has problems; ``problems`` lists them (``bulkpatch.core.rows.Problem``)."""

    def __init__(self, message: str, problems: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class CredentialsError(UsageError):
    """The API key, or the keys file, cannot be read or used."""


class JournalError(UsageError):
    """A run directory's journal cannot be continued (damaged, or from a newer bulkpatch)."""


class BusyError(UsageError):
    """Another bulkpatch is doing the same work right now."""


class StorageError(BulkpatchError):
    """Writing to the report directory failed.  ``sent`` tells whether any request that changes
    a campaign went out before it did (then the run is resumable, exit 3)."""

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class WindowClosedError(BulkpatchError):
    """The change window (``--window``) is closed and the run was told not to wait
    (``--no-wait``): nothing was sent; run again when it is open (exit 75)."""


class InternalError(BulkpatchError):
    """A bug in bulkpatch.  ``traceback_path`` is where its traceback was written."""

    def __init__(self, message: str, *, traceback_path: Path | None = None) -> None:
        super().__init__(message)
        self.traceback_path = traceback_path


def leaf_error(error: BaseException) -> BaseException:
    """The exception that matters inside (nested) exception groups from task groups: one we
    raise on purpose or an interrupt when there is one, else the first."""
    while isinstance(error, BaseExceptionGroup):
        leaves = list(error.exceptions)
        chosen = next(
            (e for e in leaves if isinstance(e, BulkpatchError | KeyboardInterrupt)), leaves[0]
        )
        error = chosen
    return error
