"""``--max-errors N`` or ``N%``: how many rejected or failed rows a run tolerates before it stops.

Like DSBulk's ``-maxErrors``: with ``N`` the run stops once more than N rows of this session
ended ``rejected`` or ``failed``; with ``N%`` once more than N percent of the rows this session
finished did, checked only after :data:`MIN_FINISHED` rows finished (so that the first unlucky
row does not stop a run of thousands).  A run stopped so is *aborted* (exit 3) and resumable;
``resume`` counts its own rows afresh.

Pure: :func:`parse_max_errors` and :class:`ErrorBudget` do no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bulkpatch.core.errors import UsageError
from bulkpatch.core.outcomes import Outcome

#: A percentage is checked only once this many rows finished.
MIN_FINISHED = 20
_ERRORS = frozenset({Outcome.REJECTED, Outcome.FAILED})
_SPEC = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


@dataclass(frozen=True, slots=True)
class MaxErrors:
    """``limit`` rows, or ``limit`` percent when ``percent``."""

    limit: float
    percent: bool

    def __str__(self) -> str:
        return f"{self.limit:g}%" if self.percent else f"{int(self.limit)}"


def parse_max_errors(text: str) -> MaxErrors:
    """``"5"`` -> 5 rows, ``"5%"`` -> 5 percent.  Raises ValueError with the reason."""
    match = _SPEC.fullmatch(text)
    if match is None:
        raise ValueError(
            f"--max-errors {text!r} is neither a number of rows (e.g. 10) nor a percentage "
            "(e.g. 5%)"
        )
    value, percent = float(match.group(1)), bool(match.group(2))
    if percent and not 0 <= value < 100:
        raise ValueError(f"--max-errors {text!r}: a percentage must be at least 0 and below 100")
    if not percent and not value.is_integer():
        raise ValueError(f"--max-errors {text!r}: a number of rows must be a whole number")
    return MaxErrors(value, percent)


def check_safeguards(options: Any) -> None:
    """The checks :class:`~bulkpatch.core.options.RunOptions` makes of its round-trip fields
    (:class:`~bulkpatch.core.errors.UsageError` for one that does not hold)."""
    if options.canary is not None and options.canary < 1:
        raise UsageError("--canary must be at least 1 row")
    if options.canary_continue and options.canary is None:
        raise UsageError("--canary-continue goes with --canary N")
    if options.max_errors is not None:
        try:
            parse_max_errors(options.max_errors)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if options.approved_by is not None and options.plan_dir is None:
        raise UsageError("--approved-by names who approved a plan: use it with --plan")


class ErrorBudget:
    """Counts this session's finished rows and says when the budget is spent."""

    def __init__(self, limit: MaxErrors) -> None:
        self.limit = limit
        self.finished = 0
        self.errors = 0
        self.spent = False

    def note(self, outcome: Outcome) -> str:
        """Count a finished row; returns why the run must stop, once, when it must (else "")."""
        if outcome is Outcome.NOT_ATTEMPTED or self.spent:
            return ""
        self.finished += 1
        if outcome in _ERRORS:
            self.errors += 1
        if not self._over():
            return ""
        self.spent = True
        share = 100.0 * self.errors / self.finished
        return (
            f"--max-errors {self.limit}: {self.errors} of the {self.finished} rows finished so "
            f"far were rejected or failed ({share:.0f}%)"
        )

    def _over(self) -> bool:
        limit = self.limit
        if not limit.percent:
            return self.errors > limit.limit
        if self.finished < MIN_FINISHED:
            return False
        return self.errors * 100 > limit.limit * self.finished

    def as_dict(self) -> dict[str, Any]:
        return {
            "max_errors": str(self.limit),
            "finished": self.finished,
            "errors": self.errors,
            "stopped": self.spent,
        }
