"""What a run tells whoever watches it: the library's events.

:func:`bulkpatch.apply_sheet` and friends take an ``on_event`` callable and call it with these,
in order: one :class:`RunStarted`, then :class:`RowFinished` per row and :class:`Progress` about
once a second, :class:`Notice` whenever something needs saying, and one :class:`RunFinished`.
The command line turns them into a progress bar and a summary (``bulkpatch.cli.display``) or JSON
lines (``--log-format json``); a notebook can collect them.  Text in events that came from a sheet
or the API is data: show it literally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from bulkpatch.core.results import RowResult
    from bulkpatch.core.summary import RunSummary


@dataclass(frozen=True, slots=True)
class RunStarted:
    run_dir: Path
    mode: str
    rows: int
    resumed: bool
    target_rate: float | None
    simulated: bool = False
    #: How long the rows will take at the rate (and in how many windows), in words.
    estimate: str = ""


@dataclass(frozen=True, slots=True)
class RowFinished:
    result: RowResult


@dataclass(frozen=True, slots=True)
class Progress:
    done: int
    total: int
    counts: Mapping[str, int]
    achieved_rate: float
    target_rate: float | None
    breaker_open: bool
    elapsed: float


@dataclass(frozen=True, slots=True)
class Notice:
    """Something a person should read now.  ``code`` names the kind, for machines."""

    level: Literal["info", "warning", "error"]
    text: str
    code: str = ""
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunFinished:
    summary: RunSummary


@dataclass(frozen=True, slots=True)
class WindowWait:
    """Outside the change window, waiting for it to open (about once a minute, each second in
    the last two): a countdown on a terminal."""

    window: str
    opens: datetime
    seconds_left: float


Event = RunStarted | RowFinished | Progress | Notice | RunFinished | WindowWait
EventSink = Callable[[Event], None]


def ignore(event: Event) -> None:
    """The default sink: nobody is watching."""
