"""Rows a 403 rejected, when the 403s turn out to be the key's refusal.

A 403 refuses one campaign; 403s from several campaigns in a row refuse the key
(:class:`bulkpatch.transport.client.KeyGuard`).  The rows whose 403s made that streak were recorded
as ``rejected`` before anyone could tell: once the key is refused they become ``not_attempted``
(:class:`bulkpatch.engine.amends.Amends` gives them a new ``done`` line), so that ``resume`` with a
good key applies them.  A 403 recorded after the refusal is ``not_attempted`` from the start.
"""

from __future__ import annotations

from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.results import RowResult, not_attempted
from bulkpatch.engine.amends import Amends
from bulkpatch.engine.stats import RunStats
from bulkpatch.engine.target import Lanes
from bulkpatch.transport.client import Lane
from bulkpatch.transport.replies import refuses_campaign


class ForbiddenRows:
    """Per key: the rows a 403 rejected since that key's last success."""

    def __init__(self) -> None:
        self._rows: dict[str, list[RowResult]] = {}

    def check(self, result: RowResult, lanes: Lanes) -> RowResult:
        """A row about to be recorded: kept in mind, or ``not_attempted`` if its key is refused."""
        key = result.key
        if key is None:
            return result
        lane = lanes(key.org_id)
        if result.outcome is Outcome.REJECTED and refuses_campaign(result.http_status):
            if lane.guard.refused:
                return refused_row(result, lane)
            self._rows.setdefault(lane.label, []).append(result)
        elif result.outcome.ok:
            self._rows.pop(lane.label, None)
        return result

    def key_refused(
        self, lane: Lane, amends: Amends, *, journal: Any, stats: RunStats, recorder: Any
    ) -> None:
        """``lane``'s key is refused: its rows rejected by 403 since its last success were the
        key's refusal; each becomes ``not_attempted``."""
        for old in self._rows.pop(lane.label, []):
            amends.replace(
                old, refused_row(old, lane), journal=journal, stats=stats, recorder=recorder
            )


def refused_row(result: RowResult, lane: Lane) -> RowResult:
    """The row, not applied because ``lane``'s key was refused."""
    why = (
        f"not applied: the API refused {lane.label} (HTTP 403 from several campaigns in a row); "
        "fix the key, then `bulkpatch resume` the run directory"
    )
    return not_attempted(result.row, result.key, why)
