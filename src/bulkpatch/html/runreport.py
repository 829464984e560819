"""``report.html``: what a run did, built from its journal (and summary.json when there is one).

* :func:`build_run_report` -- pure: the journal's records (in file order) and summary.json's dict
  in, a :class:`RunReport` out.  It streams: whatever the journal's length, it keeps one byte per
  row (its latest outcome), at most :data:`FAILURES_SHOWN` failed rows, and the per-second samples
  folded into at most :data:`bulkpatch.html.samples.MAX_POINTS` points.
* :func:`bulkpatch.html.runpage.render_run_report` -- pure: a :class:`RunReport` to HTML.
* :func:`bulkpatch.html.reportfile.write_run_report` -- the thin shell: reads the run directory,
  writes ``report.html`` whole or not at all, mode 0600.

Journal records used (``"e"`` is the kind, ``"t"`` unix time): ``start`` and ``resume`` open a
session; ``end`` closes it; ``done`` gives a row's outcome (the last one per row wins; a later
``sent`` patch for the row makes it open again), and so does ``unsettled`` (a row whose PATCH
outcome stayed unknown: counted as its session reported it, as results.csv has it); ``sent``
pause / ``paused`` / ``resumed`` / ``pause_refused`` tell which campaigns were left paused;
``tick`` is one sample a second of the requests started, the answers by status, the latency
percentiles, the target rate and the circuit breaker.  Unknown kinds are ignored, so older
pages read newer journals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.html.kit import NO_OUTCOME, clean
from bulkpatch.html.samples import Samples, Traffic, count, num

#: Failed rows listed in the page at most (all of them are in results.csv and retry.csv).
FAILURES_SHOWN = 5_000
#: Campaigns left paused listed at most.
PAUSED_SHOWN = 200
#: Distinct reasons offered in the reason filter at most.
REASONS_LISTED = 40
#: Characters of a reason kept.
REASON_CAP = 400
#: Rows above this number are not counted (a damaged journal must not exhaust memory).
ROW_LIMIT = 50_000_000

_OUTCOMES: tuple[str, ...] = tuple(str(o) for o in Outcome)
_OTHER = "other"
#: byte code per row: 0 = no outcome, 1.. = _LABELS[code]
_LABELS: tuple[str, ...] = (NO_OUTCOME, *_OUTCOMES, _OTHER)
_CODE = {label: i for i, label in enumerate(_LABELS)}
_OK_CODES = frozenset(_CODE[str(o)] for o in Outcome if o.ok)


@dataclass(frozen=True, slots=True)
class Failure:
    """A row whose latest outcome is not ``updated`` / ``unchanged``."""

    row: int
    campaign: str
    outcome: str
    reason: str
    http_status: int | None
    attempts: int
    campaign_status: str


@dataclass(frozen=True, slots=True)
class Session:
    """One invocation of ``run`` or ``resume`` on this run directory."""

    number: int
    kind: str  # "start" or "resume"
    started: float | None
    ended: float | None  # None: no ``end`` line (crashed, killed, or still going)
    last_seen: float | None
    exit_code: int | None
    rows: int | None
    rows_done: int
    rows_ok: int
    options: dict[str, Any] | None
    requests: int  # started, from the per-second samples
    throttled: int  # answers that were 429
    server_errors: int  # answers that were 5xx


@dataclass(frozen=True, slots=True)
class RunReport:
    sheet: str
    sha256: str
    version: str
    rows: int | None
    sessions: tuple[Session, ...]
    #: outcome -> rows, in the order outcomes are listed; rows with no outcome last
    outcomes: dict[str, int]
    finished: bool  # the last session has an ``end`` line
    exit_code: int | None
    failures: tuple[Failure, ...]
    failures_total: int
    #: (reason, rows) among the failures listed, most frequent first
    reasons: tuple[tuple[str, int], ...]
    #: (campaign, row) this run paused, or may have paused, and did not resume
    left_paused: tuple[tuple[str, int], ...]
    left_paused_total: int
    traffic: Traffic
    options: dict[str, Any]
    #: summary.json, when it speaks for the last session (else None)
    summary: dict[str, Any] | None
    #: summary.json exists but the last session did not end: it is from an earlier session
    summary_stale: bool
    unreadable_lines: int


# ----------------------------------------------------------------------------------------------
# Small readers of untrusted values
# ----------------------------------------------------------------------------------------------


def _row(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


# ----------------------------------------------------------------------------------------------
# The fold over the journal
# ----------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _SessionAcc:
    number: int
    kind: str
    started: float | None
    rows: int | None
    options: dict[str, Any] | None
    ended: float | None = None
    last_seen: float | None = None
    exit_code: int | None = None
    rows_done: int = 0
    rows_ok: int = 0
    requests: int = 0
    throttled: int = 0
    server_errors: int = 0

    def frozen(self) -> Session:
        return Session(
            self.number,
            self.kind,
            self.started,
            self.ended,
            self.last_seen,
            self.exit_code,
            self.rows,
            self.rows_done,
            self.rows_ok,
            self.options,
            self.requests,
            self.throttled,
            self.server_errors,
        )


class _Fold:
    def __init__(self) -> None:
        self.start: dict[str, Any] | None = None
        self.sessions: list[_SessionAcc] = []
        self.codes = bytearray()
        self.failures: dict[int, Failure] = {}
        self.paused: dict[str, int] = {}
        self.pausing: dict[str, int] = {}
        self.samples = Samples()
        self.unreadable = 0
        self.t: float | None = None

    def session(self) -> _SessionAcc:
        if not self.sessions:  # records before any start: a journal whose head was lost
            self.sessions.append(_SessionAcc(1, "start", self.t, None, None))
        return self.sessions[-1]

    def _open(self, kind: str, record: Mapping[str, Any]) -> None:
        options = record.get("options")
        rows = _row(record.get("rows"))
        rate = options.get("rate", False) if isinstance(options, Mapping) else False
        if rate is None:  # no limit
            self.samples.new_session(None, known=True)
        elif (r := num(rate)) is not None and r > 0:
            self.samples.new_session(r, known=True)
        else:  # not recorded: the first sample's own target stands
            self.samples.new_session()
        self.sessions.append(
            _SessionAcc(
                len(self.sessions) + 1,
                kind,
                self.t,
                rows,
                dict(options) if isinstance(options, Mapping) else None,
            )
        )

    def add(self, record: Any) -> None:
        if not isinstance(record, Mapping):
            self.unreadable += 1
            return
        t = num(record.get("t"))
        if t is not None:
            self.t = t
        kind = record.get("e")
        if kind == "start":
            if self.start is None:
                self.start = dict(record)
            self._open("start", record)
        elif kind == "resume":
            self._open("resume", record)
        elif kind in ("done", "unsettled"):
            self._done(record)
        elif kind == "sent":
            self._sent(record)
        elif kind in ("paused", "resumed", "pause_refused"):
            self._pause_event(kind, record)
        elif kind == "tick":
            if self.t is not None:
                s = self.session()
                started, throttled, server = self.samples.add(record, self.t, s.number)
                s.requests += started
                s.throttled += throttled
                s.server_errors += server
        elif kind == "end":
            s = self.session()
            s.ended = self.t
            code = record.get("exit_code")
            s.exit_code = code if isinstance(code, int) and not isinstance(code, bool) else None
        else:
            return  # a kind this version does not know
        if self.sessions:
            self.sessions[-1].last_seen = self.t

    def _set_code(self, row: int, code: int) -> None:
        if row >= len(self.codes):
            if row > ROW_LIMIT:
                return
            self.codes.extend(bytes(max(row + 1 - len(self.codes), len(self.codes))))
        self.codes[row] = code

    def _done(self, record: Mapping[str, Any]) -> None:
        row = _row(record.get("row"))
        if row is None:
            return
        outcome = record.get("outcome")
        label = outcome if isinstance(outcome, str) and outcome in _CODE else _OTHER
        if label == NO_OUTCOME:
            label = _OTHER
        code = _CODE[label]
        self._set_code(row, code)
        s = self.session()
        s.rows_done += 1
        if code in _OK_CODES:
            s.rows_ok += 1
            self.failures.pop(row, None)
        elif row in self.failures or len(self.failures) < FAILURES_SHOWN:
            self.failures[row] = _failure(row, label, record)

    def _sent(self, record: Mapping[str, Any]) -> None:
        row, op, key = _row(record.get("row")), record.get("op"), record.get("key")
        if op == "patch" and row is not None:
            # A later session took the row up again: open until its next ``done``.
            if row < len(self.codes):
                self.codes[row] = 0
            self.failures.pop(row, None)
        elif op == "pause" and isinstance(key, str):
            self.pausing[key] = row or 0

    def _pause_event(self, kind: str, record: Mapping[str, Any]) -> None:
        key = record.get("key")
        if not isinstance(key, str):
            return
        self.pausing.pop(key, None)
        if kind == "paused":
            self.paused[key] = _row(record.get("row")) or 0
        elif kind == "resumed":
            self.paused.pop(key, None)

    def report(self, summary: Any) -> RunReport:
        sessions = tuple(s.frozen() for s in self.sessions)
        last = sessions[-1] if sessions else None
        finished = last is not None and last.ended is not None
        counts = Counter(
            {label: self.codes.count(code) for code, label in enumerate(_LABELS) if code}
        )
        rows = next((s.rows for s in reversed(sessions) if s.rows is not None), None)
        counted = sum(n for label, n in counts.items() if label != NO_OUTCOME)
        missing = max((rows or 0) - counted, 0)
        if finished:  # cut off in flight: results.csv says not_attempted
            counts[str(Outcome.NOT_ATTEMPTED)] += missing
            missing = 0
        outcomes = {label: counts[label] for label in (*_OUTCOMES, _OTHER) if counts[label]}
        if missing:
            outcomes[NO_OUTCOME] = missing
        failures = tuple(self.failures[r] for r in sorted(self.failures))
        failures_total = sum(n for label, n in counts.items() if _CODE[label] not in _OK_CODES)
        reasons = Counter(f.reason for f in failures).most_common(REASONS_LISTED)
        left = {**self.pausing, **self.paused}
        start = self.start or {}
        options = start.get("options")
        if not isinstance(options, Mapping):
            options = next((s.options for s in sessions if s.options), None) or {}
        summary_dict = dict(summary) if isinstance(summary, Mapping) else None
        return RunReport(
            sheet=clean(start.get("sheet"), 500),
            sha256=clean(start.get("sha256"), 80),
            version=clean(start.get("version"), 40),
            rows=rows,
            sessions=sessions,
            outcomes=outcomes,
            finished=finished,
            exit_code=last.exit_code if last else None,
            failures=failures,
            failures_total=failures_total,
            reasons=tuple(reasons),
            left_paused=tuple(sorted(left.items(), key=lambda kv: kv[1]))[:PAUSED_SHOWN],
            left_paused_total=len(left),
            traffic=self.samples.traffic(),
            options=dict(options),
            summary=summary_dict if finished else None,
            summary_stale=summary_dict is not None and not finished,
            unreadable_lines=self.unreadable,
        )


def _failure(row: int, outcome: str, record: Mapping[str, Any]) -> Failure:
    ids = [clean(record.get(k), 130) for k in ("org_id", "workspace_id", "campaign_id")]
    status = record.get("http_status")
    return Failure(
        row=row,
        campaign="/".join(ids) if any(ids) else "",
        outcome=outcome,
        reason=clean(record.get("reason"), REASON_CAP),
        http_status=status if isinstance(status, int) and not isinstance(status, bool) else None,
        attempts=count(record.get("attempts")),
        campaign_status=clean(record.get("campaign_status"), 40),
    )


def build_run_report(records: Iterable[Any], summary: Mapping[str, Any] | None) -> RunReport:
    """The report of a run from its journal's records, in file order (a record that could not be
    read may be given as ``None``: it is counted), and summary.json's dict if there is one."""
    fold = _Fold()
    for record in records:
        fold.add(record)
    return fold.report(summary)
