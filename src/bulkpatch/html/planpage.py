"""``plan.html``: the plan of ``bulkpatch plan SHEET --out PLAN_DIR``, for a reviewer, offline.

:func:`render_plan_page` is pure: plan rows and the plan's facts in, one self-contained HTML page
out (counts by outcome at the top, a sortable table filtered by outcome or text, and the sheet,
its sha256, the plan's digest, when it was made and with which options).  Every value from the
sheet or the API is escaped, made printable and capped.  :func:`write_plan_page` writes it whole
or not at all, mode 0600.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.html.kit import (
    clean,
    count_cards,
    esc,
    fmt_int,
    fmt_time,
    options_rows,
    outcome_class,
    page,
    stacked_labels_css,
)
from bulkpatch.rundir.files import atomic_text

#: The element that shows the plan's digest: what the digest is computed from leaves its content
#: out (:func:`without_digest`), since the digest cannot cover itself.
DIGEST_ID = 'id="plan-digest"'
_DIGEST_SHOWN = re.compile(rb'(<span class="mono" id="plan-digest">)[^<]*(</span>)')

#: Rows listed in the page at most (every row is in plan.csv).
PLAN_ROWS_SHOWN = 10_000
#: Characters of one old or new value shown at most.
VALUE_CAP = 300
_COLUMNS = ("row", "campaign", "outcome", "reason", "status", "updated_at", "changes")
_ORDER = {str(o): i for i, o in enumerate(Outcome)}


def _value(value: Any) -> str:
    """An old or new value as a reviewer reads it: text as it is (``""`` when empty), lists of
    words joined, anything else compact JSON; ``None`` as *(none)*."""
    if value is None:
        return '<em class="muted">(none)</em>'
    if isinstance(value, str):
        return esc(value, VALUE_CAP) if value else '<em class="muted">""</em>'
    if isinstance(value, list) and all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value
    ):
        return esc(", ".join(str(v) for v in value), VALUE_CAP)
    return esc(value, VALUE_CAP)


def _words(value: Any) -> list[str] | None:
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def _list_diff(old: Any, new: Any) -> tuple[str, str] | None:
    """Two lists of words (a campaign's days) with what changed marked: the items dropped in
    ``<del>`` in the old list, those added in ``<ins>`` in the new one.  None for other values."""
    before, after = _words(old), _words(new)
    if before is None or after is None or len(before) + len(after) > 200:
        return None

    def marked(items: list[str], other: list[str], tag: str) -> str:
        return ", ".join(
            esc(v, 60) if v in other else f"<{tag}>{esc(v, 60)}</{tag}>" for v in items
        )

    return marked(before, after, "del"), marked(after, before, "ins")


def _changes(changes: Any) -> str:
    if not isinstance(changes, list | tuple) or not changes:
        return ""
    items = []
    for change in changes:
        if isinstance(change, list | tuple) and len(change) == 3:
            path, old, new = change
            shown_old, shown_new = _list_diff(old, new) or (_value(old), _value(new))
            items.append(
                f'<li><span class="mono">{esc(path, 120)}</span>: {shown_old} '
                f'<span class="arrow">-&gt;</span> {shown_new}</li>'
            )
        else:
            items.append(f"<li>{esc(change, VALUE_CAP)}</li>")
    return f'<ul class="ch">{"".join(items)}</ul>'


def _campaign(row: Mapping[str, Any]) -> str:
    if row.get("campaign") is not None:
        return clean(row.get("campaign"), 400)
    ids = [clean(row.get(k), 130) for k in ("org_id", "workspace_id", "campaign_id")]
    return "/".join(ids) if any(ids) else ""


def _row_number(value: Any) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else esc(value, 20)


def _table_row(row: Mapping[str, Any]) -> str:
    outcome = clean(row.get("outcome"), 40)
    return (
        f'<tr data-o="{esc(outcome, 40)}"><td class="num">{_row_number(row.get("row"))}</td>'
        f'<td class="mono camp">{esc(_campaign(row), 400)}</td>'
        f'<td class="nw"><span class="tag {outcome_class(outcome)}">{esc(outcome, 40)}</span></td>'
        f'<td class="why">{esc(row.get("reason"), 400)}</td>'
        f'<td class="nw">{esc(row.get("campaign_status"), 40)}</td>'
        f'<td class="mono nw">{esc(row.get("updated_at"), 60)}</td>'
        f'<td class="ch">{_changes(row.get("changes"))}</td></tr>'
    )


def _created(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return esc(fmt_time(float(value)))
    return esc(value, 80)


def _counts(meta: Mapping[str, Any], seen: Counter[str]) -> dict[str, int]:
    given = meta.get("counts")
    if isinstance(given, Mapping):
        counts = {
            clean(k, 40): int(v)
            for k, v in given.items()
            if isinstance(v, int) and not isinstance(v, bool) and v > 0
        }
    else:
        counts = {k: v for k, v in seen.items() if v}
    return dict(sorted(counts.items(), key=lambda kv: (_ORDER.get(kv[0], 99), kv[0])))


def render_plan_page(rows: Iterable[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    """The whole ``plan.html`` page.  ``rows``: dicts with ``row``, ``campaign`` (or
    ``org_id`` / ``workspace_id`` / ``campaign_id``), ``outcome``, ``reason``,
    ``campaign_status``, ``updated_at`` and ``changes`` (a list of ``[field, old, new]``).
    ``meta``: ``sheet``, ``sha256``, ``digest``, ``created``, ``options``, ``counts``."""
    listed: list[str] = []
    seen: Counter[str] = Counter()
    listed_by: Counter[str] = Counter()
    for row in rows:
        outcome = clean(row.get("outcome"), 40)
        seen[outcome] += 1
        if len(listed) < PLAN_ROWS_SHOWN:
            listed.append(_table_row(row))
            listed_by[outcome] += 1
    counts = _counts(meta, seen)
    total = sum(counts.values()) or sum(seen.values())
    would_change = counts.get(str(Outcome.UPDATED), 0)
    facts = [
        ("sheet", f'<span class="mono">{esc(meta.get("sheet"), 500) or "—"}</span>'),
        ("sha256", f'<span class="mono">{esc(meta.get("sha256"), 80) or "—"}</span>'),
        ("plan digest", f'<span class="mono" {DIGEST_ID}>{esc(meta.get("digest"), 120)}</span>'),
        ("created", _created(meta.get("created")) or "—"),
        ("rows", fmt_int(total)),
    ]
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    note = ""
    if sum(seen.values()) > len(listed):
        note = (
            f'<p class="muted">The first {fmt_int(len(listed))} of {fmt_int(sum(seen.values()))} '
            "rows are listed here; every row is in plan.csv.</p>"
        )
    o_opts = "".join(
        f'<option value="{esc(o, 40)}">{esc(o, 40)} ({fmt_int(listed_by[o])})</option>'
        for o in sorted(set(counts) | set(listed_by), key=lambda o: (_ORDER.get(o, 99), o))
    )
    s_opts = "".join(
        f'<option value="{i}:{d}">{c} {"↑" if d > 0 else "↓"}</option>'
        for i, c in enumerate(_COLUMNS)
        for d in (1, -1)
    )
    head = "".join(
        f'<th aria-sort="none"><button type="button" class="sort">{c}</button></th>'
        for c in _COLUMNS
    )
    options = meta.get("options")
    options_html = (
        f'<h2>Options</h2><div class="tablewrap"><table class="kv">{options_rows(options)}'
        "</table></div>"
        if isinstance(options, Mapping) and options
        else ""
    )
    body = (
        "<h1>bulkpatch plan</h1>"
        "<p>Nothing was sent: the plan read each campaign (GET only). "
        f"<strong>{fmt_int(would_change)}</strong> of {fmt_int(total)} campaigns would change. "
        "<code>bulkpatch run --plan</code> on this plan directory applies exactly this plan.</p>"
        f'<dl class="meta">{dl}</dl>'
        f"<h2>Outcomes</h2>{count_cards(counts.items(), total, buttons=True)}"
        '<p class="muted">Click an outcome to show only its rows; click it again for all.</p>'
        f"<h2>Rows</h2>{note}"
        '<div class="controls">'
        f'<label>outcome <select id="f-o"><option value="">all</option>{o_opts}</select></label>'
        '<label>contains <input id="f-q" type="search" placeholder="text" size="16"></label>'
        f'<label>sort <select id="f-s">{s_opts}</select></label>'
        '<span id="f-n" class="muted" aria-live="polite"></span></div>'
        f'<div class="tablewrap"><table class="rows plan" id="plan"><thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(listed)}</tbody></table></div>"
        f"{options_html}"
        "<footer>Built by bulkpatch plan. Needs no network to view.</footer>"
    )
    return page("bulkpatch plan", body, css=CSS, script=SCRIPT)


def without_digest(page: bytes) -> bytes:
    """The page's bytes with the digest it shows left out: the digest covers all of the rest
    (a page that shows another digest, or none, hashes the same; it is the reviewer's copy of
    the digest that a run is held to)."""
    return _DIGEST_SHOWN.sub(rb"\1\2", page)


def write_plan_page(path: Path, rows: Iterable[Mapping[str, Any]], meta: Mapping[str, Any]) -> Path:
    """Write :func:`render_plan_page` to ``path`` (``PLAN_DIR/plan.html``) atomically, mode 0600."""
    page = render_plan_page(rows, meta)
    with atomic_text(path) as f:
        f.write(page)
    return path


SCRIPT = """(function(){
var t=document.getElementById('plan');if(!t)return;
var tb=t.tBodies[0],rows=Array.prototype.slice.call(tb.rows),keys={},col=0,dir=1,
fo=document.getElementById('f-o'),fq=document.getElementById('f-q'),
fs=document.getElementById('f-s'),fn=document.getElementById('f-n'),
ths=Array.prototype.slice.call(t.tHead.rows[0].cells),
cards=Array.prototype.slice.call(document.querySelectorAll('button.card'));
function key(i){if(!keys[i]){keys[i]=rows.map(function(tr){var s=tr.cells[i].textContent;
return i===0?(parseFloat(s)||0):s.toLowerCase();});}return keys[i];}
function sort(i,d){col=i;dir=d;var k=key(i),idx=rows.map(function(_,j){return j;});
idx.sort(function(a,b){var x=k[a],y=k[b];return (x<y?-1:x>y?1:0)*d||a-b;});
var f=document.createDocumentFragment();idx.forEach(function(j){f.appendChild(rows[j]);});
tb.appendChild(f);ths.forEach(function(th,j){th.setAttribute('aria-sort',
j===i?(d>0?'ascending':'descending'):'none');});fs.value=i+':'+d;}
function apply(){var o=fo.value,q=fq.value.trim().toLowerCase(),n=0;
rows.forEach(function(tr){var ok=(!o||tr.getAttribute('data-o')===o)&&
(!q||tr.textContent.toLowerCase().indexOf(q)>=0);tr.hidden=!ok;if(ok)n++;});
cards.forEach(function(c){c.classList.toggle('on',!!o&&c.getAttribute('data-o')===o);});
fn.textContent=n.toLocaleString()+' of '+rows.length.toLocaleString()+' shown';}
ths.forEach(function(th,i){th.querySelector('button').addEventListener('click',
function(){sort(i,col===i?-dir:1);});});
fs.addEventListener('change',function(){var p=fs.value.split(':');sort(+p[0],+p[1]);});
cards.forEach(function(c){c.addEventListener('click',function(){var o=c.getAttribute('data-o');
fo.value=fo.value===o?'':o;apply();});});
fo.addEventListener('change',apply);fq.addEventListener('input',apply);
ths[0].setAttribute('aria-sort','ascending');apply();})();"""

CSS = (
    "main{max-width:1400px}"
    "button.sort{font:inherit;font-weight:600;background:none;border:0;padding:0;"
    "color:inherit;cursor:pointer}"
    "th[aria-sort=ascending] button.sort::after{content:' ▲'}"
    "th[aria-sort=descending] button.sort::after{content:' ▼'}"
    "ul.ch{margin:0;padding-left:1rem}ul.ch li{margin:0}"
    ".arrow{color:var(--muted);white-space:nowrap}"
    "ul.ch ins{text-decoration:none;font-weight:600;color:var(--ok,#1a7f37)}"
    "ul.ch del{color:var(--bad,#cf222e)}" + stacked_labels_css("plan", _COLUMNS)
)
