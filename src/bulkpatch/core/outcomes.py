"""Row outcomes and process exit codes (both tabled in docs/applying.md)."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Outcome(StrEnum):
    """Each row ends with exactly one of these."""

    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    INVALID = "invalid"
    REJECTED = "rejected"  # the API refused it: a permanent 4xx
    FAILED = "failed"  # transient errors outlasted the attempts
    NOT_ATTEMPTED = "not_attempted"  # the run stopped first

    @property
    def ok(self) -> bool:
        return self in (Outcome.UPDATED, Outcome.UNCHANGED)


class ExitCode(IntEnum):
    OK = 0  # every row updated or unchanged
    SOME_ROWS_NOT_OK = 1  # the run finished and some rows did not
    USAGE = 2  # usage error or invalid sheet; nothing sent
    ABORTED = 3  # bad key, outage, interrupt, a campaign left paused; resumable
    WINDOW_CLOSED = 75  # outside the change window (EX_TEMPFAIL): rows left for resume
    INTERNAL = 70  # a bug in bulkpatch (EX_SOFTWARE); the traceback is in the run directory
