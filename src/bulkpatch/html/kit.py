"""Self-contained HTML pages: escaping, the page shell, shared CSS and small building blocks.

Every value that came from a sheet, the API or a journal is hostile until it passes :func:`esc`:
made printable (control and bidirectional-override characters gone, lone surrogates dropped),
capped in length, then HTML-escaped for text and attribute alike.

A page is one file that needs no network to be viewed: no external style sheet, script, font or
image, and a Content-Security-Policy that forbids loading anything; the one inline ``<style>`` and
the one inline ``<script>`` are allowed by their SHA-256 hashes, so nothing injected could run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.text import cap, printable

#: Characters of one table cell at most; the cut is said in the cell.
CELL_CAP = 300
_SURROGATES = re.compile(r"[\ud800-\udfff]")
#: Option names whose value is never shown (the options never hold the key; this is a backstop).
_SECRET_NAME = re.compile(r"(^|_)(key|token|secret|password|passwd|authorization)$", re.I)

#: Outcome -> CSS class (the class sets the colour). Anything else is ``o-other``.
OUTCOME_CLASS: dict[str, str] = {str(o): f"o-{o}" for o in Outcome}
#: Rows with no outcome in the journal (a crashed run, or one still going).
NO_OUTCOME = "no outcome"
OUTCOME_CLASS[NO_OUTCOME] = "o-none"


def clean(value: Any, limit: int = CELL_CAP) -> str:
    """Any value as safe plain text: one line, printable, at most ``limit`` characters (plus a
    note saying how much was cut).  ``None`` is empty; objects and lists are compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool | int | float):
        text = str(value)
    else:
        try:
            text = json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))
        except (TypeError, ValueError):
            text = repr(value)
    text = _SURROGATES.sub("", printable(text))
    return cap(text, limit)


def esc(value: Any, limit: int = CELL_CAP) -> str:
    """:func:`clean`, then escaped for HTML text and (quoted) attribute values."""
    return html.escape(clean(value, limit), quote=True)


def outcome_class(outcome: str) -> str:
    return OUTCOME_CLASS.get(outcome, "o-other")


def fmt_int(n: float | None) -> str:
    return "" if n is None else f"{round(n):,}"


def fmt_num(x: float | None, digits: int = 1) -> str:
    if x is None or not math.isfinite(x):
        return ""
    return f"{x:,.{digits}f}".rstrip("0").rstrip(".") if digits else f"{x:,.0f}"


def fmt_ms(ms: float | None) -> str:
    if ms is None or not math.isfinite(ms):
        return ""
    if ms >= 10_000:
        return f"{ms / 1000:,.0f} s"
    if ms >= 1000:
        return f"{ms / 1000:.1f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"


def fmt_time(t: float | None) -> str:
    """A unix time as ``2026-12-01 02:31:07 UTC``."""
    if t is None or not math.isfinite(t) or not 0 <= t < 253402300800:
        return ""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def options_rows(options: Mapping[str, Any]) -> str:
    """The ``<tr>`` rows of an options table; a value whose name looks secret is hidden."""
    out = []
    for name, value in options.items():
        shown = "(hidden)" if is_secret_name(str(name)) else clean(value, 500) or "—"
        out.append(f"<tr><th>{esc(name, 80)}</th><td>{html.escape(shown)}</td></tr>")
    return "".join(out)


def count_cards(counts: Iterable[tuple[str, int]], total: int, *, buttons: bool = False) -> str:
    """One card per outcome: the count and its share of ``total``.  With ``buttons`` each card is
    a button carrying ``data-o`` (a page script filters the table by it)."""
    cards = []
    for label, n in counts:
        share = f"{100 * n / total:.1f}%" if total else ""
        inner = (
            f'<span class="n">{fmt_int(n)}</span><span class="l">{esc(label, 40)}</span>'
            f'<span class="s">{share}</span>'
        )
        cls = f"card {outcome_class(label)}"
        if buttons:
            cards.append(
                f'<button type="button" class="{cls}" data-o="{esc(label, 40)}">{inner}</button>'
            )
        else:
            cards.append(f'<div class="{cls}">{inner}</div>')
    return f'<div class="cards">{"".join(cards)}</div>'


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def page(title: str, body: str, *, css: str = "", script: str = "") -> str:
    """A whole HTML document.  ``title`` is escaped here; ``body`` must already be safe HTML.
    The policy forbids every fetch; only this style sheet and this script may apply."""
    style = BASE_CSS + css
    policy = (
        "default-src 'none'; img-src data:; "
        f"style-src {_csp_hash(style)}; "
        f"script-src {_csp_hash(script) if script else chr(39) + 'none' + chr(39)}; "
        "base-uri 'none'; form-action 'none'"
    )
    script_tag = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title, 200)}</title><style>{style}</style></head>"
        f"<body><main>{body}</main>{script_tag}</body></html>\n"
    )


def stacked_labels_css(table_class: str, labels: Iterable[str]) -> str:
    """On a narrow screen, a table's rows become stacked blocks; each cell is preceded by its
    column name (the names are ours, never data)."""
    rules = [
        f"table.{table_class} td:nth-child({i})::before{{content:{json.dumps(label + ': ')}}}"
        for i, label in enumerate(labels, start=1)
    ]
    return "@media (max-width:700px){" + "".join(rules) + "}"


BASE_CSS = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;
--card:#f6f8fa;--accent:#0969da;
--updated:#1a7f37;--unchanged:#4b8b5a;--skipped:#bf8700;--invalid:#8250df;--rejected:#cf222e;
--failed:#82071e;--not_attempted:#818b98;--none:#c5cdd6;--other:#59636e;
--bar:#54aeff;--target:#1f2328;--c429:#e16f24;--c5xx:#cf222e;--brk:#ffd8d3;
--p50:#0969da;--p95:#bf8700;--p99:#cf222e;--warn:#fff8c5;--warnline:#d4a72c}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--line:#3d444d;--card:#151b23;--accent:#4493f8;--bar:#1f6feb;--target:#e6edf3;--brk:#5d1f1a;
--none:#3d444d;--warn:#3b2e00;--warnline:#9e6a03}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",sans-serif}
main{max-width:1100px;margin:0 auto;padding:14px 14px 40px}
h1{font-size:1.35rem;margin:.2rem 0 .5rem}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem;padding-bottom:.2rem;border-bottom:1px solid var(--line)}
p{margin:.4rem 0}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
.muted{color:var(--muted)}
[hidden]{display:none!important}
dl.meta{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.1rem .8rem;margin:.3rem 0}
dl.meta dt{color:var(--muted)}
dl.meta dd{margin:0;overflow-wrap:anywhere;min-width:0}
.banner{border:1px solid var(--warnline);background:var(--warn);border-radius:6px;
padding:.5rem .75rem;margin:.6rem 0}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:.4rem 0}
.card{display:flex;flex-direction:column;align-items:flex-start;min-width:7.2rem;flex:0 1 auto;
border:1px solid var(--line);border-left:6px solid var(--c);border-radius:6px;
padding:.35rem .6rem;background:var(--card);color:var(--fg);font:inherit;text-align:left}
button.card{cursor:pointer}
button.card.on{outline:2px solid var(--accent)}
.card .n{font-size:1.3rem;font-weight:600;line-height:1.2}
.card .l,.card .s{font-size:.85rem;color:var(--muted)}
.o-updated{--c:var(--updated)}.o-unchanged{--c:var(--unchanged)}.o-skipped{--c:var(--skipped)}
.o-invalid{--c:var(--invalid)}.o-rejected{--c:var(--rejected)}.o-failed{--c:var(--failed)}
.o-not_attempted{--c:var(--not_attempted)}.o-none{--c:var(--none)}.o-other{--c:var(--other)}
.tag{display:inline-block;border-left:4px solid var(--c);padding-left:.3rem;white-space:nowrap}
.controls{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.5rem 0}
.controls label{display:flex;gap:.35rem;align-items:center;max-width:100%}
.controls select,.controls input{font:inherit;max-width:100%;min-width:0;padding:.2rem .3rem;
background:var(--bg);color:var(--fg);border:1px solid var(--line);border-radius:4px}
.controls select{max-width:min(34rem,100%)}
.tablewrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.88rem}
th,td{text-align:left;vertical-align:top;padding:.3rem .45rem;border-bottom:1px solid var(--line)}
td{overflow-wrap:break-word}
thead th{position:sticky;top:0;background:var(--bg);white-space:nowrap}
table.kv th{width:1%;white-space:nowrap;color:var(--muted);font-weight:normal}
table.kv td{overflow-wrap:anywhere}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.nw{white-space:nowrap}
@media (min-width:701px){td.why{min-width:9rem}}
.chart{margin:.3rem 0 .2rem;max-width:900px}
.chart svg{display:block;width:100%;height:auto}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.85rem;color:var(--muted);margin:0}
.key{display:inline-block;width:.9em;height:.9em;vertical-align:-.1em;margin-right:.3em;
border-radius:2px;background:var(--c)}
.k-bar{--c:var(--bar)}.k-target{--c:var(--target)}.k-429{--c:var(--c429)}.k-5xx{--c:var(--c5xx)}
.k-brk{--c:var(--brk)}.k-p50{--c:var(--p50)}.k-p95{--c:var(--p95)}.k-p99{--c:var(--p99)}
svg text{fill:var(--muted);font-size:12px;font-family:system-ui,sans-serif}
svg .grid{stroke:var(--line);stroke-width:1}
svg .bar{fill:var(--bar)}
svg .target{fill:none;stroke:var(--target);stroke-width:1.5;stroke-dasharray:5 3}
svg .m429{fill:var(--c429)} svg .m5xx{fill:var(--c5xx)} svg .brk{fill:var(--brk)}
svg .sess{stroke:var(--muted);stroke-width:1;stroke-dasharray:2 3}
svg .p50,svg .p95,svg .p99{fill:none;stroke-width:1.6;stroke-linejoin:round;stroke-linecap:round}
svg .p50{stroke:var(--p50)} svg .p95{stroke:var(--p95)} svg .p99{stroke:var(--p99)}
footer{margin-top:2rem;font-size:.8rem;color:var(--muted)}
@media (max-width:700px){
main{padding:10px 10px 30px}
svg text{font-size:20px}
table.rows thead{display:none}
table.rows tr{display:block;border-bottom:1px solid var(--line);padding:.35rem 0}
table.rows td{display:block;border:0;padding:.05rem 0;text-align:left;white-space:normal}
table.rows td::before{color:var(--muted);font:.88rem system-ui,sans-serif}
table.rows td:empty{display:none}
.card{min-width:6.3rem}
}
"""
