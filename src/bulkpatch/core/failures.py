"""How a command that failed ended: its exit code and its one line, for the screen, a JSON log,
a notification and the Pushgateway alike (pure)."""

from __future__ import annotations

from bulkpatch.core.errors import (
    BulkpatchError,
    InternalError,
    StorageError,
    UsageError,
    WindowClosedError,
    leaf_error,
)
from bulkpatch.core.outcomes import ExitCode
from bulkpatch.core.summary import exit_code_for
from bulkpatch.core.text import printable, shorten

#: Characters of an error's line kept in a notification.
ERROR_LINE_KEPT = 1000


def exit_code_of(error: BaseException) -> ExitCode:
    """The exit code for an exception that ended a command (:func:`exit_code_for` decides it:
    an interrupt or a stop is resumable, a usage error sent nothing, anything else is a bug)."""
    if isinstance(error, WindowClosedError):
        return exit_code_for({}, window_closed=True)
    usage = isinstance(error, UsageError) or (isinstance(error, StorageError) and not error.sent)
    stopped = isinstance(error, KeyboardInterrupt) or (
        isinstance(error, BulkpatchError) and not isinstance(error, InternalError) and not usage
    )
    return exit_code_for({}, aborted=stopped, usage=usage, internal=not (stopped or usage))


def ending_error(error: BaseException) -> BaseException:
    """The error that matters in what escaped a command (the leaf of a task group's group)."""
    return error if isinstance(error, InternalError) else leaf_error(error)


def error_line(error: BaseException) -> str:
    """What went wrong, on one printable line: the error's own sentence for one raised on
    purpose, its kind for a bug (whose text may hold anything)."""
    error = ending_error(error)
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, BulkpatchError) and not isinstance(error, InternalError):
        return shorten(printable(str(error)), ERROR_LINE_KEPT)
    if isinstance(error, InternalError):
        return shorten(printable(str(error)), ERROR_LINE_KEPT)
    kind = type(leaf_error(error.__cause__ or error)).__name__
    return f"internal error ({kind}); please report it"
