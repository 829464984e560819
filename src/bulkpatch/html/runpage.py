"""The HTML of ``report.html``: a pure function of a :class:`~bulkpatch.html.runreport.RunReport`.

Every value from the journal or summary.json goes through :func:`~bulkpatch.html.kit.esc` (values
the builder already cut get a larger limit here, so that its note of the cut stays whole).
"""

from __future__ import annotations

import html
from collections import Counter
from collections.abc import Mapping
from typing import Any

from bulkpatch.core.text import shorten
from bulkpatch.html.charts import latency_chart, rate_chart
from bulkpatch.html.kit import (
    NO_OUTCOME,
    clean,
    count_cards,
    esc,
    fmt_duration,
    fmt_int,
    fmt_ms,
    fmt_num,
    fmt_time,
    options_rows,
    outcome_class,
    page,
    stacked_labels_css,
)
from bulkpatch.html.runreport import FAILURES_SHOWN, RunReport, Session

EXIT_MEANING = {
    0: "every row updated or unchanged",
    1: "the run finished and some rows did not succeed",
    2: "usage error or invalid sheet; nothing sent",
    3: "aborted (bad key, outage, interrupt); resumable",
    70: "internal error; the traceback is in the run directory",
}
_FAIL_COLUMNS = ("row", "campaign", "outcome", "reason", "HTTP", "attempts", "status")


def _status_line(r: RunReport) -> str:
    if not r.sessions:
        return '<p class="banner">The journal holds no session: nothing was run.</p>'
    if not r.finished:
        return (
            '<p class="banner"><strong>The last session has no end</strong>: it crashed, was '
            "killed, or is still running. Counts below come from the journal; "
            "<code>bulkpatch resume</code> on this run directory continues it.</p>"
        )
    code = r.exit_code
    meaning = EXIT_MEANING.get(code, "") if code is not None else ""
    tail = f": {meaning}" if meaning else ""
    return f"<p><strong>Finished</strong>, exit code {esc(code)}{tail}.</p>"


def _header(r: RunReport) -> str:
    first, last = (r.sessions[0], r.sessions[-1]) if r.sessions else (None, None)
    began = first.started if first else None
    ended = (last.ended or last.last_seen) if last else None
    items = [
        ("sheet", f'<span class="mono">{esc(r.sheet, 1000) or "—"}</span>'),
        ("sha256", f'<span class="mono">{esc(r.sha256, 200) or "—"}</span>'),
        ("rows", fmt_int(r.rows) if r.rows is not None else "—"),
        ("started", esc(fmt_time(began)) or "—"),
        ("ended" if r.finished else "last record", esc(fmt_time(ended)) or "—"),
        (
            "wall time",
            esc(fmt_duration(ended - began)) if began is not None and ended is not None else "—",
        ),
        ("sessions", f"{len(r.sessions)}" + (" (resumed)" if len(r.sessions) > 1 else "")),
        ("bulkpatch", esc(r.version, 200) or "—"),
    ]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items)
    return f'<h1>bulkpatch run report</h1>{_status_line(r)}<dl class="meta">{body}</dl>'


def _warnings(r: RunReport) -> str:
    out = []
    if r.left_paused_total:
        items = "".join(
            f'<li><span class="mono">{esc(key, 400)}</span> (row {fmt_int(row)})</li>'
            if row
            else f'<li><span class="mono">{esc(key, 400)}</span></li>'
            for key, row in r.left_paused
        )
        more = r.left_paused_total - len(r.left_paused)
        tail = f"<p>… and {fmt_int(more)} more.</p>" if more > 0 else ""
        out.append(
            f'<div class="banner"><strong>{fmt_int(r.left_paused_total)} campaign(s) this run '
            "paused, or may have paused, and did not resume.</strong> "
            "<code>bulkpatch resume</code> on this run directory resumes them."
            f"<ul>{items}</ul>{tail}</div>"
        )
    if r.summary_stale:
        out.append(
            '<p class="banner">summary.json is from an earlier session of this run (the last '
            "session did not end), so its numbers are not shown.</p>"
        )
    if r.unreadable_lines:
        out.append(
            f'<p class="banner">{fmt_int(r.unreadable_lines)} journal line(s) could not be read '
            "(a line cut short by a crash is normal) and were skipped.</p>"
        )
    return "".join(out)


def _outcome_bar(outcomes: Mapping[str, int]) -> str:
    total = sum(outcomes.values())
    if not total:
        return ""
    x, rects = 0.0, []
    for label, n in outcomes.items():
        w = 1000 * n / total
        rects.append(
            f'<rect class="seg {outcome_class(label)}" x="{x:.1f}" y="0" width="{w:.1f}" '
            f'height="14"><title>{esc(label, 40)}: {fmt_int(n)}</title></rect>'
        )
        x += w
    return (
        '<svg class="obar" viewBox="0 0 1000 14" preserveAspectRatio="none" role="img" '
        f'aria-label="outcomes as shares of all rows">{"".join(rects)}</svg>'
    )


def _outcomes(r: RunReport) -> str:
    total = sum(r.outcomes.values())
    note = ""
    if NO_OUTCOME in r.outcomes:
        note = (
            '<p class="muted">“no outcome”: rows with no result in the journal yet (the run did '
            "not finish).</p>"
        )
    cards = count_cards(r.outcomes.items(), total)
    return f"<h2>Outcomes</h2>{cards}{_outcome_bar(r.outcomes)}{note}"


def _facts(rows: list[tuple[str, str]]) -> str:
    """Name and value pairs (values already escaped), two pairs a line on a wide screen."""
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows if v)
    return f'<dl class="meta two">{body}</dl>' if body else ""


def _summary_numbers(s: Mapping[str, Any], sessions: int) -> list[tuple[str, str]]:
    requests, latency, breaker = _sub(s, "requests"), _sub(s, "latency"), _sub(s, "breaker")
    by_method = _sub(requests, "by_method")
    methods = ", ".join(f"{esc(m, 20)} {fmt_int(_n(v))}" for m, v in by_method.items())
    scope = " (last session)" if sessions > 1 else ""
    lat = " · ".join(
        f"p{q} {fmt_ms(_n(latency.get(f'p{q}_ms')))}"
        for q in (50, 95, 99)
        if _n(latency.get(f"p{q}_ms")) is not None
    )
    target = _n(s.get("target_rate"))
    return [
        (
            f"requests{scope}",
            fmt_int(_n(requests.get("total"))) + (f" ({methods})" if methods else ""),
        ),
        (f"retries{scope}", fmt_int(_n(s.get("retries")))),
        (f"429 answers{scope}", fmt_int(_n(s.get("throttled_429")))),
        (
            f"achieved rate{scope}",
            f"{fmt_num(_n(s.get('achieved_rate')))} req/s"
            + (f" (target {fmt_num(target)})" if target else " (no limit)")
            if _n(s.get("achieved_rate")) is not None
            else "",
        ),
        (f"latency{scope}", lat),
        ("rate cuts after 429s", fmt_int(_n(s.get("rate_cuts")))),
        (
            "pacer's rate at the end",
            f"{fmt_num(_n(s.get('final_rate')))} req/s"
            if _n(s.get("final_rate")) is not None and _n(s.get("final_rate")) != target
            else "",
        ),
        (
            "circuit breaker",
            f"opened {fmt_int(_n(breaker.get('openings')))} time(s), "
            f"{fmt_duration(_n(breaker.get('paused_seconds')))} paused"
            if _n(breaker.get("openings"))
            else "",
        ),
        ("stopped because", esc(s.get("stop_reason"), 500)),
    ]


def _sub(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _n(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _traffic(r: RunReport) -> str:
    tr = r.traffic
    parts = ["<h2>Requests</h2>"]
    numbers = []
    if tr.samples:
        statuses = ", ".join(f"{esc(k, 8)}: {fmt_int(v)}" for k, v in tr.by_status.items() if v)
        numbers += [
            (
                "requests started",
                f"{fmt_int(tr.requests)} in {fmt_duration(tr.x_max)} of sending",
            ),
            ("answers by status", statuses),
            ("peak rate", f"{fmt_num(tr.peak_rate)} req/s"),
            ("seconds with 429s", fmt_int(tr.seconds_throttled) or "0"),
            ("seconds with 5xx", fmt_int(tr.seconds_server_error) or "0"),
            ("seconds with no answer", fmt_int(tr.seconds_no_answer)),
            ("seconds the breaker was open", fmt_int(tr.seconds_breaker_open)),
        ]
    if r.summary is not None:
        numbers += _summary_numbers(r.summary, len(r.sessions))
    parts.append(_facts(numbers))
    if not tr.samples:
        parts.append(
            '<p class="muted">This journal has no per-second samples (it was written by an '
            "older bulkpatch), so there are no charts.</p>"
        )
        return "".join(parts)
    per = (
        f"Each bar covers {fmt_duration(tr.seconds_per_point)} of sending."
        if tr.seconds_per_point > 1
        else "One bar per second."
    )
    joined = " Sessions are laid end to end." if len(tr.session_marks) > 1 else ""
    parts.append(
        "<h3>Requests started per second</h3>"
        f'<div class="chart">{rate_chart(tr.rate, tr.session_marks, tr.x_max)}</div>'
        '<p class="legend"><span><span class="key k-bar"></span>started</span>'
        '<span><span class="key k-429"></span>answered 429</span>'
        '<span><span class="key k-5xx"></span>answered 5xx</span>'
        '<span><span class="key k-target"></span>target rate</span>'
        '<span><span class="key k-brk"></span>breaker open</span></p>'
        f'<p class="muted">{per}{joined} The rows marked 429 and 5xx above the bars show every '
        "second that had at least one such answer. The target is the pacer's rate as each "
        "second began (it cuts the rate after a 429, then climbs back). The x axis is time "
        "spent sending.</p>"
        "<h3>Latency</h3>"
        f'<div class="chart">{latency_chart(tr.latency, tr.session_marks, tr.x_max)}</div>'
        '<p class="legend"><span><span class="key k-p50"></span>p50</span>'
        '<span><span class="key k-p95"></span>p95</span>'
        '<span><span class="key k-p99"></span>p99</span></p>'
        + (
            '<p class="muted">Where a point covers several seconds, p50 is their average and '
            "p95 / p99 their worst.</p>"
            if tr.seconds_per_point > 1
            else ""
        )
    )
    return "".join(parts)


def _session_row(s: Session) -> str:
    end = s.ended if s.ended is not None else s.last_seen
    took = fmt_duration(end - s.started) if end is not None and s.started is not None else ""
    ended = esc(fmt_time(s.ended)) if s.ended is not None else "no end (crashed?)"
    code = esc(s.exit_code) if s.exit_code is not None else "—"
    return (
        f'<tr><td class="num">{s.number}</td><td>{"run" if s.kind == "start" else "resume"}</td>'
        f"<td>{esc(fmt_time(s.started))}</td><td>{ended}</td><td>{took}</td><td>{code}</td>"
        f'<td class="num">{fmt_int(s.rows_done)}</td><td class="num">{fmt_int(s.rows_ok)}</td>'
        f'<td class="num">{fmt_int(s.requests)}</td><td class="num">{fmt_int(s.throttled)}</td>'
        f'<td class="num">{fmt_int(s.server_errors)}</td></tr>'
    )


_SESSION_COLUMNS = (
    "session", "kind", "started", "ended", "took", "exit", "rows done", "of them ok",
    "requests", "429s", "5xx",
)  # fmt: skip


def _sessions(r: RunReport) -> str:
    if len(r.sessions) < 2:
        return ""
    head = "".join(f"<th>{c}</th>" for c in _SESSION_COLUMNS)
    body = "".join(_session_row(s) for s in r.sessions)
    return (
        "<h2>Sessions</h2>"
        '<p class="muted">This run was resumed: each session is one <code>run</code> or '
        "<code>resume</code>. Rows done = outcomes written in that session.</p>"
        f'<div class="tablewrap"><table class="rows sess"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _failures(r: RunReport) -> str:
    if not r.failures_total:
        return "<h2>Rows that did not succeed</h2><p>None: every row was updated or unchanged.</p>"
    index = {reason: i for i, (reason, _) in enumerate(r.reasons)}
    rows = []
    for f in r.failures:
        ri = index.get(f.reason, -1)
        rows.append(
            f'<tr data-o="{esc(f.outcome, 40)}" data-r="{ri}">'
            f'<td class="num">{f.row}</td><td class="mono camp">{esc(f.campaign, 1000)}</td>'
            f'<td class="nw"><span class="tag {outcome_class(f.outcome)}">{esc(f.outcome, 40)}'
            f'</span></td><td class="why">{esc(f.reason, 1000)}</td>'
            f'<td class="nw">{esc(f.http_status)}</td>'
            f'<td class="num">{f.attempts}</td><td class="nw">{esc(f.campaign_status, 200)}</td>'
            "</tr>"
        )
    by_outcome = Counter(f.outcome for f in r.failures)
    o_opts = "".join(
        f'<option value="{esc(o, 40)}">{esc(o, 40)} ({fmt_int(n)})</option>'
        for o, n in sorted(by_outcome.items())
    )
    r_opts = "".join(
        f'<option value="{i}">{html.escape(shorten(reason, 90))} ({fmt_int(n)})</option>'
        for i, (reason, n) in enumerate(r.reasons)
    )
    if any(f.reason not in index for f in r.failures):
        r_opts += '<option value="-1">other reasons</option>'
    shown = len(r.failures)
    note = ""
    if shown < r.failures_total:
        note = (
            f'<p class="muted">{fmt_int(r.failures_total)} rows did not succeed; the '
            f"{fmt_int(shown)} listed here are those with a result line in the journal"
            + (f" (at most {fmt_int(FAILURES_SHOWN)})" if shown >= FAILURES_SHOWN else "")
            + ". All of them are in results.csv and retry.csv.</p>"
        )
    head = "".join(f"<th>{c}</th>" for c in _FAIL_COLUMNS)
    return (
        "<h2>Rows that did not succeed</h2>"
        f"{note}"
        '<div class="controls">'
        f'<label>outcome <select id="f-o"><option value="">all ({fmt_int(shown)})</option>'
        f"{o_opts}</select></label>"
        f'<label>reason <select id="f-r"><option value="">all reasons</option>{r_opts}'
        "</select></label>"
        '<label>contains <input id="f-q" type="search" placeholder="text" size="16"></label>'
        '<span id="f-n" class="muted" aria-live="polite"></span></div>'
        f'<div class="tablewrap"><table class="rows fail" id="fail"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _next_steps(r: RunReport) -> str:
    """What to do next, as the run printed it (summary.json's ``next_steps``)."""
    steps = (r.summary or {}).get("next_steps") or []
    items = []
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        rows = step.get("rows")
        head = (
            f"{fmt_int(rows) if isinstance(rows, int) else ''} {clean(step.get('outcome'), 40)} "
            f"({clean(step.get('reason'), 200)}): {clean(step.get('advice'), 300)}"
        )
        line = f"<li>{html.escape(head)}"
        if step.get("command"):
            line += f'<br><code class="mono">{esc(step["command"], 2000)}</code>'
        if step.get("note"):
            line += f'<br><span class="muted">{esc(step["note"], 500)}</span>'
        items.append(line + "</li>")
    return f"<h2>Next steps</h2><ul>{''.join(items)}</ul>" if items else ""


def _options(r: RunReport) -> str:
    if not r.options:
        return "<h2>Options</h2><p>The journal does not record the options.</p>"
    # A simulated run sent nothing to the base URL the options name: say where it went.
    shown = {**r.options, "base_url": "simulated"} if r.options.get("simulate") else r.options
    parts = [
        "<h2>Options</h2>",
        f'<div class="tablewrap"><table class="kv">{options_rows(shown)}</table></div>',
    ]
    for s in r.sessions[1:]:
        if s.options is None:
            parts.append(
                f'<p class="muted">Session {s.number}: options not recorded (the same sheet; '
                "an older journal).</p>"
            )
            continue
        changed = {k: v for k, v in s.options.items() if k not in r.options or r.options[k] != v}
        if changed:
            parts.append(
                f"<h3>Session {s.number} changed</h3>"
                f'<div class="tablewrap"><table class="kv">{options_rows(changed)}</table></div>'
            )
    return "".join(parts)


SCRIPT = """(function(){
var t=document.getElementById('fail');if(!t)return;
var rows=Array.prototype.slice.call(t.tBodies[0].rows);
var fo=document.getElementById('f-o'),fr=document.getElementById('f-r'),
fq=document.getElementById('f-q'),fn=document.getElementById('f-n');
function apply(){var o=fo.value,r=fr.value,q=fq.value.trim().toLowerCase(),n=0;
rows.forEach(function(tr){var ok=(!o||tr.getAttribute('data-o')===o)&&
(!r||tr.getAttribute('data-r')===r)&&(!q||tr.textContent.toLowerCase().indexOf(q)>=0);
tr.hidden=!ok;if(ok)n++;});
fn.textContent=n.toLocaleString()+' of '+rows.length.toLocaleString()+' shown';}
fo.addEventListener('change',apply);fr.addEventListener('change',apply);
fq.addEventListener('input',apply);apply();})();"""

CSS = (
    "svg.obar{display:block;width:100%;height:14px;margin:.3rem 0;border-radius:3px}"
    "svg .seg{fill:var(--c)}h3{font-size:1rem;margin:1rem 0 .2rem}"
    "svg .s429{fill:var(--c429)}svg .s5xx{fill:var(--c5xx)}"
    ".banner ul{margin:.3rem 0;padding-left:1.2rem}"
    "@media (min-width:760px){dl.two{grid-template-columns:max-content minmax(0,1fr) "
    "max-content minmax(0,1fr)}}"
    "@media (max-width:700px){dl.two{grid-template-columns:minmax(0,45%) minmax(0,1fr)}}"
    + stacked_labels_css("fail", _FAIL_COLUMNS)
    + stacked_labels_css("sess", _SESSION_COLUMNS)
)


def render_run_report(report: RunReport) -> str:
    """The whole ``report.html`` page."""
    body = "".join(
        (
            _header(report),
            _warnings(report),
            _outcomes(report),
            _traffic(report),
            _sessions(report),
            _failures(report),
            _next_steps(report),
            _options(report),
            "<footer>Built by bulkpatch from this run directory's journal.jsonl"
            + (" and summary.json" if report.summary is not None else "")
            + ". Needs no network to view.</footer>",
        )
    )
    return page("bulkpatch run report", body, css=CSS, script=SCRIPT)
