"""Two small inline-SVG charts, drawn by hand: requests per second, and latency over time.

Pure functions from numbers to SVG text.  Nothing here takes text from data: the only text drawn is
numbers and our own labels.  Colours come from CSS classes (the page's style sheet), so the charts
follow a dark colour scheme too.  The x axis is seconds of sending; sessions of a resumed run are
laid end to end and divided by a dotted line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 250
LEFT = 84
RIGHT = 12
TOP = 20
MARKS_TOP = 60  # room above the plot for the 429 / 5xx marker rows
BOTTOM = 30


@dataclass(frozen=True, slots=True)
class RatePoint:
    """One stretch ``[x0, x1)`` of seconds of sending."""

    x0: float
    x1: float
    rate: float  # requests started per second
    target: float | None  # the pacer's target; None = unlimited
    throttled: bool  # some answer was a 429
    server_error: bool  # some answer was a 5xx
    breaker_open: bool
    throttled_rate: float = 0.0  # answers per second that were 429
    server_error_rate: float = 0.0  # answers per second that were 5xx


@dataclass(frozen=True, slots=True)
class LatencyPoint:
    x0: float
    x1: float
    p50: float | None
    p95: float | None
    p99: float | None


def nice_step(span: float, count: int = 5) -> float:
    """A round step (1, 2, 2.5 or 5 times a power of ten) giving at most ``count`` intervals."""
    if span <= 0 or not math.isfinite(span):
        return 1.0
    raw = span / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return float(m * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def value_ticks(top: float) -> list[float]:
    """Ticks from 0 up to at least ``top``: 3 to 5 round steps, the last as close to ``top``
    as they allow."""
    best: tuple[float, float, int] | None = None
    for count in (3, 4, 5):
        step = nice_step(top, count)
        n = max(1, math.ceil(top / step - 1e-9))
        if best is None or n * step < best[0] - 1e-9:
            best = (n * step, step, n)
    assert best is not None
    _, step, n = best
    return [i * step for i in range(n + 1)]


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)


def time_ticks(span: float, count: int = 6) -> list[float]:
    raw = span / max(count, 1)
    step = next((float(s) for s in _TIME_STEPS if s >= raw), 86400.0 * math.ceil(raw / 86400))
    return [i * step for i in range(int(span // step) + 1)]


def clock(seconds: float) -> str:
    """Seconds as ``m:ss`` or ``h:mm:ss``."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def _n(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _num_label(v: float) -> str:
    if v >= 10_000:
        return f"{v / 1000:.0f}k"
    if v >= 1000:
        return f"{v / 1000:.1f}k".replace(".0k", "k")
    return f"{v:g}"


class _Frame:
    """Maps data to the plot area."""

    def __init__(
        self, x_max: float, y_top: float, *, top: int = TOP, log_from: float | None = None
    ) -> None:
        self.x_max = max(x_max, 1e-9)
        self.y_top = y_top
        self.log_from = log_from  # a log scale from this value up to y_top
        self.top = top
        self.w = WIDTH - LEFT - RIGHT
        self.h = HEIGHT - top - BOTTOM
        self.base = top + self.h

    def x(self, v: float) -> float:
        return LEFT + self.w * min(max(v / self.x_max, 0.0), 1.0)

    def y(self, v: float) -> float:
        if self.log_from is not None:
            lo, hi = math.log10(self.log_from), math.log10(self.y_top)
            share = (math.log10(max(v, self.log_from)) - lo) / max(hi - lo, 1e-9)
        else:
            share = v / self.y_top if self.y_top > 0 else 0.0
        return self.top + self.h * (1 - min(max(share, 0.0), 1.0))


def _open(label: str) -> str:
    return (
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{label}"><title>{label}</title>'
    )


def ms_label(ms: float) -> str:
    """A latency tick: ``250 ms``, ``1.5 s``."""
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"


def _axes(frame: _Frame, y_ticks: Sequence[float], label: Callable[[float], str]) -> list[str]:
    parts = []
    for v in y_ticks:
        y = _n(frame.y(v))
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{label(v)}</text>"
        )
    for v in time_ticks(frame.x_max):
        x = _n(frame.x(v))
        parts.append(
            f'<line class="grid" x1="{x}" x2="{x}" y1="{frame.base}" y2="{frame.base + 4}"/>'
        )
        parts.append(f'<text x="{x}" y="{HEIGHT - 6}" text-anchor="middle">{clock(v)}</text>')
    return parts


def _sessions(frame: _Frame, marks: Sequence[tuple[int, float]]) -> list[str]:
    """A dotted line where each session after the first begins."""
    parts = []
    for number, s in marks[1:]:
        x = _n(frame.x(s))
        parts.append(f'<line class="sess" x1="{x}" x2="{x}" y1="{frame.top}" y2="{frame.base}"/>')
        parts.append(
            f'<text x="{_n(frame.x(s) + 4)}" y="{frame.top + 4}" dominant-baseline="hanging">'
            f"session {number}</text>"
        )
    return parts


def _gap(last_x1: float, p: RatePoint | LatencyPoint) -> bool:
    """Whether ``p`` starts clearly after the previous point ended (no samples between)."""
    return p.x0 - last_x1 > 0.5 * max(p.x1 - p.x0, 1.0)


def _joined(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Spans in order, neighbours that touch (up to the rounding of sample times) made one, so
    a run of marked seconds draws as one mark with no hairline seams."""
    out: list[tuple[float, float]] = []
    for a, b in spans:
        if out and a - out[-1][1] <= 0.05 * max(b - a, 1.0):
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _spans(frame: _Frame, spans: Sequence[tuple[float, float]], y0: float, y1: float) -> str:
    """One path of rectangles over x spans (at least a pixel wide), from y0 down to y1."""
    cmds = []
    for a, b in spans:
        xa, xb = frame.x(a), frame.x(b)
        if xb - xa < 1.5:
            xb = xa + 1.5
        cmds.append(f"M{_n(xa)},{_n(y0)}H{_n(xb)}V{_n(y1)}H{_n(xa)}Z")
    return "".join(cmds)


def _answer_shares(frame: _Frame, points: Sequence[RatePoint]) -> list[str]:
    """The top of each bar in the colours of its 429 and 5xx answers: how much of the second's
    traffic the server refused (answers, so a share of the bar, never above it)."""
    shares: dict[str, list[str]] = {"s429": [], "s5xx": []}
    for p in points:
        if p.rate <= 0:
            continue
        xa, xb = frame.x(p.x0), frame.x(p.x1)
        xb = max(xb - 0.3, xa + 0.6)
        top = p.rate
        for cls, part in (("s429", p.throttled_rate), ("s5xx", p.server_error_rate)):
            low = max(top - max(part, 0.0), 0.0)
            if top - low <= 0:
                continue
            ya, yb = frame.y(top), frame.y(low)
            if yb - ya < 1.0:  # at least a pixel, so a single 5xx shows
                yb = ya + 1.0
            shares[cls].append(f"M{_n(xa)},{_n(ya)}V{_n(yb)}H{_n(xb)}V{_n(ya)}Z")
            top = low
    return [f'<path class="{cls}" d="{"".join(d)}"/>' for cls, d in shares.items() if d]


def rate_chart(
    points: Sequence[RatePoint], sessions: Sequence[tuple[int, float]], x_max: float
) -> str:
    """Requests started per second (bars, topped by the share answered 429 and 5xx), the target
    rate (dashed line), seconds holding a 429 or a 5xx (marks above the plot), seconds the circuit
    breaker was open (shaded)."""
    top = max([p.rate for p in points] + [p.target or 0.0 for p in points] + [1.0])
    y_ticks = value_ticks(top * 1.05)
    frame = _Frame(x_max, y_ticks[-1], top=MARKS_TOP)
    parts = [_open("requests started per second over the run")]
    brk = _spans(
        frame, _joined([(p.x0, p.x1) for p in points if p.breaker_open]), frame.top, frame.base
    )
    if brk:
        parts.append(f'<path class="brk" d="{brk}"/>')
    parts += _axes(frame, y_ticks, _num_label)
    base = frame.base
    bars = []
    for p in points:
        if p.rate <= 0:
            continue
        xa, xb = frame.x(p.x0), frame.x(p.x1)
        xb = max(xb - 0.3, xa + 0.6)  # a hair between neighbours
        bars.append(f"M{_n(xa)},{_n(base)}V{_n(frame.y(p.rate))}H{_n(xb)}V{_n(base)}Z")
    if bars:
        parts.append(f'<path class="bar" d="{"".join(bars)}"/>')
    parts += _answer_shares(frame, points)
    target: list[str] = []
    drawing, last_x = False, 0.0
    for p in points:
        if p.target is None:
            drawing = False
            continue
        y = _n(frame.y(p.target))
        sa, sb = _n(frame.x(p.x0)), _n(frame.x(p.x1))
        go_on = drawing and not _gap(last_x, p)
        target.append(f"{'L' if go_on else 'M'}{sa},{y}L{sb},{y}")
        drawing, last_x = True, p.x1
    if target:
        parts.append(f'<path class="target" d="{"".join(target)}"/>')
    for cls, label, y0, flag in (
        ("m429", "429", 8, "throttled"),
        ("m5xx", "5xx", 32, "server_error"),
    ):
        hit = _joined([(p.x0, p.x1) for p in points if getattr(p, flag)])
        marks = _spans(frame, hit, y0, y0 + 14)
        parts.append(
            f'<text x="{LEFT - 6}" y="{y0 + 7}" text-anchor="end" '
            f'dominant-baseline="middle">{label}</text>'
        )
        if marks:
            parts.append(f'<path class="{cls}" d="{marks}"/>')
    parts += _sessions(frame, sessions)
    parts.append("</svg>")
    return "".join(parts)


def latency_chart(
    points: Sequence[LatencyPoint], sessions: Sequence[tuple[int, float]], x_max: float
) -> str:
    """p50, p95 and p99 latency (ms) over time; a log scale when they span two decades."""
    values = [v for p in points for v in (p.p50, p.p95, p.p99) if v is not None and v > 0]
    hi = max(values, default=1.0)
    lo = min(values, default=1.0)
    log_from: float | None = None
    if hi / max(lo, 1e-9) >= 100:
        log_from = 10 ** math.floor(math.log10(max(lo, 0.01)))
        y_top = 10 ** math.ceil(math.log10(hi))
        y_ticks = [log_from * 10**i for i in range(round(math.log10(y_top / log_from)) + 1)]
    else:
        y_ticks = value_ticks(hi * 1.05)
        y_top = y_ticks[-1]
    frame = _Frame(x_max, y_top, log_from=log_from)
    parts = [_open("latency p50, p95 and p99 over the run")]
    parts += _axes(frame, y_ticks, ms_label)
    for name in ("p50", "p95", "p99"):
        cmds, drawing, last_x = [], False, None
        for p in points:
            v = getattr(p, name)
            if v is None:
                drawing = False
                continue
            mid = (p.x0 + p.x1) / 2
            jump = last_x is not None and _gap(last_x, p)
            cmds.append(
                f"{'L' if drawing and not jump else 'M'}{_n(frame.x(mid))},{_n(frame.y(v))}"
            )
            if not drawing or jump:  # a lone point still shows as a short stroke
                cmds.append("h0.01")
            drawing, last_x = True, p.x1
        if cmds:
            parts.append(f'<path class="{name}" d="{"".join(cmds)}"/>')
    parts += _sessions(frame, sessions)
    parts.append("</svg>")
    return "".join(parts)
