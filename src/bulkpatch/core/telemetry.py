"""Traces and metrics as the engine sees them: a small protocol, and a no-op default.

The engine and the transport call three hooks -- :func:`traced_row` around a row,
``current().request_span(...)`` around a request (and ``headers(...)`` for its ``traceparent``),
``current().retrying(...)`` before a retry's wait -- and never import a telemetry library.
:mod:`bulkpatch.ops.otel` implements :class:`Telemetry` with OpenTelemetry; ``bulkpatch.ops``
puts it in place (:func:`using`) for the length of a library call.  Off, :data:`NO_TELEMETRY`
is current: each hook is a context variable lookup and a call that does nothing.

What a hook is given is chosen so that nothing secret can reach a span: ids, counts, statuses,
the (capped, printable) reason of a row -- never the API key, a cell value or an API answer.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

from bulkpatch.core.results import RowResult

if TYPE_CHECKING:
    from bulkpatch.core.events import Event
    from bulkpatch.core.rows import CampaignKey, RowChange

P = ParamSpec("P")
H = TypeVar("H", bound=Mapping[str, str])


class RowSpan(Protocol):
    def finished(self, result: RowResult) -> None:
        """The row's result: its outcome, reason and attempts."""


class RequestSpan(Protocol):
    def replied(self, status: int | None, transport_error: str = "") -> None:
        """The answer's HTTP status; with no status, the client's own words for what went
        wrong (built from exception class names only, e.g. ``cannot connect (OSError)``)."""


class Telemetry(Protocol):
    """What the engine and the transport report.  ``enabled`` False: every hook is free."""

    enabled: bool

    def row_span(self, row: int, key: CampaignKey | None) -> AbstractContextManager[RowSpan]: ...

    def request_span(
        self, method: str, base_url: str, path: str
    ) -> AbstractContextManager[RequestSpan]: ...

    def headers(self, headers: H) -> H:
        """``headers`` with the current span's ``traceparent`` (a copy; the same object when
        there is nothing to add)."""
        ...

    def retrying(self, status: int | None, delay: float) -> None:
        """A request will be sent again after ``delay`` seconds (a 429, a 5xx, a lost answer)."""
        ...

    def on_event(self, event: Event) -> None:
        """The library's events (rows by outcome, the pacer's rate, the run's summary)."""
        ...


class _Nothing:
    """A span that records nothing: its own context manager."""

    __slots__ = ()

    def __enter__(self) -> _Nothing:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def finished(self, result: RowResult) -> None:
        return None

    def replied(self, status: int | None, transport_error: str = "") -> None:
        return None


_NOTHING = _Nothing()


class NoTelemetry:
    """The default: nobody is watching, and it costs nothing."""

    enabled = False

    def row_span(self, row: int, key: CampaignKey | None) -> _Nothing:
        return _NOTHING

    def request_span(self, method: str, base_url: str, path: str) -> _Nothing:
        return _NOTHING

    def headers(self, headers: H) -> H:
        return headers

    def retrying(self, status: int | None, delay: float) -> None:
        return None

    def on_event(self, event: Event) -> None:
        return None


NO_TELEMETRY: Telemetry = NoTelemetry()
_CURRENT: ContextVar[Telemetry] = ContextVar("bulkpatch_telemetry", default=NO_TELEMETRY)
#: How many times the request being sent was sent before (``http.request.resend_count``).
RESENDS: ContextVar[int] = ContextVar("bulkpatch_resends", default=0)


def current() -> Telemetry:
    """The telemetry of the library call running in this task (tasks inherit it)."""
    return _CURRENT.get()


@contextmanager
def using(telemetry: Telemetry) -> Iterator[Telemetry]:
    """Make ``telemetry`` current for the block (and the tasks started in it)."""
    token = _CURRENT.set(telemetry)
    try:
        yield telemetry
    finally:
        _CURRENT.reset(token)


class RowJob(Protocol):
    """Anything that carries a row's change (the pool's ``Job``)."""

    @property
    def change(self) -> RowChange: ...


J = TypeVar("J", bound=RowJob)
R = TypeVar("R")


def traced_row(
    apply: Callable[Concatenate[J, P], Awaitable[R]],
) -> Callable[Concatenate[J, P], Awaitable[R]]:
    """Decorate a coroutine function that applies one row: with telemetry on, it runs inside
    the row's span, which gets the row's result (not a row put off for later: its span ends
    without one, and the row gets a new span when it comes back).  Off, the call goes straight
    through."""

    @functools.wraps(apply)
    def call(job: J, /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[R]:
        telemetry = _CURRENT.get()
        if not telemetry.enabled:
            return apply(job, *args, **kwargs)
        return _in_row_span(telemetry, job.change, apply(job, *args, **kwargs))

    return call


async def _in_row_span(telemetry: Telemetry, change: RowChange, work: Awaitable[R]) -> R:
    with telemetry.row_span(change.row, change.key) as span:
        result = await work
        if isinstance(result, RowResult):
            span.finished(result)
    return result
