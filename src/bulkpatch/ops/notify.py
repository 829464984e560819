"""``--notify-url URL``: tell someone how a run went, once, at its end.

* :func:`check_notify_url` -- before the run: https only (plain http only to a loopback host).
* :func:`build_notification` -- pure: the run's summary as the body to POST, either the summary
  itself less anything bulky (``json``) or a Slack-compatible ``{"text": ...}`` message
  (``slack``: counts per outcome, duration, run directory, exit code, top reasons).
* :func:`send_notification` -- one POST, bounded in time, never raises: None when the receiver
  took it (2xx), else a short printable reason to log.  A failure to notify never changes the
  run's exit code.

A webhook's URL is often its own secret (a Slack incoming webhook is), so messages name only
its scheme and host (:func:`redact_url`), never its path or query.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, Literal
from urllib.parse import urlsplit

import aiohttp
import anyio

from bulkpatch.core.errors import UsageError
from bulkpatch.core.outcomes import Outcome
from bulkpatch.core.text import printable, shorten
from bulkpatch.core.urls import is_loopback
from bulkpatch.version import __version__

NotifyFormat = Literal["json", "slack"]
NOTIFY_FORMATS: tuple[NotifyFormat, ...] = ("json", "slack")
#: Seconds one notification may take in all (connect, send, answer).
NOTIFY_TIMEOUT = 10.0
#: Top reasons shown in a Slack message.
REASONS_SHOWN = 5
#: Bounds of the JSON body: list items, mapping entries, characters of a string.
ITEMS_KEPT = 20
ENTRIES_KEPT = 50
TEXT_KEPT = 1000
#: Summary fields left out of the JSON body (the run directory's summary.json has them all).
BULKY_FIELDS = ("options",)

EXIT_MEANINGS = {
    0: "every row updated or unchanged",
    1: "finished; some rows were not updated",
    2: "did not start (usage error; nothing sent)",
    3: "stopped before the end; resumable",
    75: "stopped at the change window's end (or outside it); resumable",
    70: "internal error",
}
_EXIT_ICONS = {0: ":white_check_mark:", 1: ":warning:"}


# ----------------------------------------------------------------------------------------------
# The URL
# ----------------------------------------------------------------------------------------------


def check_notify_url(url: str) -> str:
    """``url`` when a summary may be POSTed to it: ``https://``, or ``http://`` to a loopback
    host; else :class:`UsageError` (which shows only the URL's scheme and host)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UsageError(
            "--notify-url must be an absolute https:// URL (for example a Slack incoming "
            "webhook's URL)"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"--notify-url {redact_url(url)} uses plain http:// to a host that is not loopback; "
            "the run's summary would cross the network unencrypted. Use https://"
        )
    return url


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, ending in ``/…`` when it had more: a webhook's path
    and query are often its secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(an unreadable URL)"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
    if parts.path.strip("/") or parts.query:
        shown += "/…"
    return printable(shown)


# ----------------------------------------------------------------------------------------------
# The body (pure)
# ----------------------------------------------------------------------------------------------


def build_notification(summary: Mapping[str, Any], *, fmt: NotifyFormat) -> dict[str, Any]:
    """The body to POST for a run's ``summary``: for ``json`` the summary less
    :data:`BULKY_FIELDS`, with lists, mappings and strings cut to a bound; for ``slack`` a
    ``{"text": ...}`` message."""
    if fmt == "slack":
        return {"text": slack_text(summary)}
    if fmt == "json":
        return {k: _trimmed(v) for k, v in summary.items() if k not in BULKY_FIELDS}
    raise ValueError(f"unknown notification format {fmt!r}")


def _trimmed(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return shorten(value, 200)
    if isinstance(value, str):
        return value if len(value) <= TEXT_KEPT else value[:TEXT_KEPT] + "…"
    if isinstance(value, Mapping):
        items = list(value.items())
        kept = {str(k): _trimmed(v, depth + 1) for k, v in items[:ENTRIES_KEPT]}
        if len(items) > ENTRIES_KEPT:
            kept["…"] = f"{len(items) - ENTRIES_KEPT} more in summary.json"
        return kept
    if isinstance(value, list | tuple):
        kept_list = [_trimmed(v, depth + 1) for v in value[:ITEMS_KEPT]]
        if len(value) > ITEMS_KEPT:
            kept_list.append(f"… {len(value) - ITEMS_KEPT} more in summary.json")
        return kept_list
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("unlimited" if value > 0 else None)
    if value is None or isinstance(value, bool | int | float):
        return value
    return shorten(value, TEXT_KEPT)


def _mrkdwn(text: Any, width: int = 200) -> str:
    """Data as Slack text: one printable line, cut, with ``& < >`` escaped (so it cannot make a
    link or a mention) and backticks turned to quotes (so it cannot leave a code span)."""
    line = shorten(text, width)
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _count(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def format_duration(seconds: Any) -> str:
    """``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    try:
        s = float(seconds)
    except (TypeError, ValueError):
        return "?"
    if not math.isfinite(s) or s < 0:
        return "?"
    if s < 60:
        return f"{s:.1f} s"
    whole = round(s)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def slack_text(summary: Mapping[str, Any]) -> str:
    """A short Slack message (``mrkdwn``) about a run: what it did, how long, where the reports
    are, and what to do about the rows that did not go through."""
    code = summary.get("exit_code")
    exit_code = code if isinstance(code, int) else None
    icon = _EXIT_ICONS.get(exit_code, ":x:") if exit_code is not None else ":grey_question:"
    meaning = EXIT_MEANINGS.get(exit_code, "") if exit_code is not None else "unknown"
    mode = _mrkdwn(summary.get("mode") or "run", 20)
    lines = [
        f"{icon} *bulkpatch {mode}*: exit {exit_code if exit_code is not None else '?'}"
        + (f" ({meaning})" if meaning else "")
    ]

    sheet = _mapping(summary.get("sheet"))
    sheet_name = PurePath(str(sheet.get("path") or "?")).name
    where = f"*Sheet* `{_mrkdwn(sheet_name, 80)}`"
    if summary.get("shard"):
        where += f" (shard {_mrkdwn(summary['shard'], 20)})"
    rows = summary.get("rows")
    if rows is not None:
        where += f" · {_count(rows):,} rows"
    if not summary.get("error") or summary.get("duration_s") is not None:
        where += f" · {format_duration(summary.get('duration_s'))}"
    lines.append(where)

    if summary.get("error") and "outcomes" not in summary:  # it ended before it had counts
        return _tail(lines, summary, exit_code)
    outcomes = _mapping(summary.get("outcomes"))
    known = [str(o) for o in Outcome]
    order = known + sorted(k for k in outcomes if k not in known)
    counts = [f"{_mrkdwn(o, 30)} {_count(outcomes[o]):,}" for o in order if _count(outcomes.get(o))]
    lines.append("*Rows* " + (" · ".join(counts) if counts else "none"))

    requests = _mapping(summary.get("requests"))
    by_method = _mapping(requests.get("by_method"))
    methods = ", ".join(f"{_mrkdwn(m, 10)} {_count(n):,}" for m, n in sorted(by_method.items()))
    lines.append(
        f"*Requests* {_count(requests.get('total')):,}"
        + (f" ({methods})" if methods else "")
        + f" · 429s {_count(summary.get('throttled_429')):,}"
    )

    if summary.get("stop_reason"):
        lines.append(f"*Stopped* {_mrkdwn(summary['stop_reason'], 300)}")
    refused = _mapping(summary.get("keys_refused"))
    for label, why in list(refused.items())[:REASONS_SHOWN]:
        lines.append(f":no_entry: *Key refused* {_mrkdwn(label, 100)}: {_mrkdwn(why, 200)}")
    paused = summary.get("campaigns_left_paused")
    if paused:
        names = list(paused)[:10]
        more = f" and {len(paused) - len(names)} more" if len(paused) > len(names) else ""
        lines.append(
            f":rotating_light: *LEFT PAUSED* {len(paused):,} campaign(s): "
            + ", ".join(f"`{_mrkdwn(n, 80)}`" for n in names)
            + more
        )

    reasons = summary.get("top_reasons")
    if isinstance(reasons, list) and reasons:
        lines.append("*Top reasons*")
        for item in reasons[:REASONS_SHOWN]:
            if not isinstance(item, Mapping):
                continue
            line = (
                f"• {_mrkdwn(item.get('outcome') or '?', 30)} ×{_count(item.get('rows')):,}: "
                f"{_mrkdwn(item.get('reason') or '', 300)}"
            )
            if item.get("command"):
                line += f"\n    `{_mrkdwn(item['command'], 300)}`"
            lines.append(line)
        if len(reasons) > REASONS_SHOWN:
            lines.append(f"… and {len(reasons) - REASONS_SHOWN} more in summary.json")

    return _tail(lines, summary, exit_code)


def _tail(lines: list[str], summary: Mapping[str, Any], exit_code: int | None) -> str:
    """The message's last lines (the error, the run directory, how to continue), joined."""
    if summary.get("error"):
        lines.append(f"*Error* {_mrkdwn(summary['error'], 500)}")
    run_dir = summary.get("run_dir")
    if run_dir:
        lines.append(f"*Run directory* `{_mrkdwn(run_dir, 300)}`")
        if exit_code in (3, 75):
            resume = shlex.join(["bulkpatch", "resume", str(run_dir)])
            lines.append(f"*Continue with* `{_mrkdwn(resume, 320)}`")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Sending
# ----------------------------------------------------------------------------------------------


def os_reason(error: BaseException) -> str:
    """An operating-system error in words (``Connection refused``), short and printable."""
    number = getattr(error, "errno", None)
    if isinstance(number, int) and number > 0:
        return os.strerror(number)
    return shorten(str(error) or type(error).__name__, 120)


async def send_notification(
    url: str,
    payload: Mapping[str, Any],
    *,
    timeout: float = NOTIFY_TIMEOUT,  # noqa: ASYNC109 -- the bound is the call's own contract
) -> str | None:
    """POST ``payload`` as JSON to ``url`` once, within ``timeout`` seconds in all.

    Never raises (cancellation aside): None when the receiver answered 2xx, else a short
    printable reason that names the receiver by scheme and host only.  Redirects are not
    followed (a receiver that moved says so).
    """
    where = redact_url(url)
    try:
        body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    except (TypeError, ValueError) as exc:
        return f"the notification could not be encoded as JSON ({shorten(str(exc), 80)})"
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": f"bulkpatch/{__version__}",
    }
    try:
        with anyio.fail_after(timeout):
            async with (
                aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
                ) as session,
                session.post(url, data=body, headers=headers, allow_redirects=False) as reply,
            ):
                if 200 <= reply.status < 300:
                    return None
                text = (await reply.content.read(512)).decode("utf-8", "replace")
    except TimeoutError:
        return f"{where} did not answer within {timeout:g} s"
    except aiohttp.ClientConnectorError as exc:
        return f"cannot connect to {where}: {os_reason(exc.os_error)}"
    except aiohttp.ServerDisconnectedError:
        return f"{where} closed the connection without answering"
    except aiohttp.InvalidURL:
        return f"the notify URL {where} is not a valid URL"
    except Exception as exc:  # never raise: a failure to notify does not change the run
        return f"sending to {where} failed ({type(exc).__name__})"
    status = reply.status
    if 300 <= status < 400:
        return f"{where} answered HTTP {status} (a redirect); give the URL it redirects to"
    detail = shorten(text.strip(), 120)
    return f"{where} answered HTTP {status}" + (f": {detail}" if detail else "")
