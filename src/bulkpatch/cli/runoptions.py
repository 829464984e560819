"""The options ``plan``, ``run`` and ``resume`` share (and ``export``, ``verify``, ``undo``
take some of): where the API and the key are, how hard to push it, how to share the work and
tell how it went, what to print.  Declarations only: ``cli/run.py`` turns the values into
:class:`~bulkpatch.core.options.RunOptions`."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bulkpatch.core.options import DEFAULT_KEY_ENV, default_rate
from bulkpatch.core.urls import DEFAULT_BASE_URL

F = TypeVar("F", bound=Callable[..., Any])


class RateType(click.ParamType):  # type: ignore[type-arg]
    """A positive number of requests per second, or ``unlimited``."""

    name = "RATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip().lower()
        if text == "unlimited":
            return math.inf
        try:
            rate = float(text)
        except ValueError:
            self.fail(f"{value!r} is not a number of requests per second (or 'unlimited')")
        if rate <= 0 or math.isnan(rate):
            self.fail("the rate must be above 0; for no limit at all, say 'unlimited'")
        return rate


class DurationType(click.ParamType):  # type: ignore[type-arg]
    """A duration: seconds (``90``), or with units (``30s``, ``45m``, ``2h``, ``1h30m``)."""

    name = "DURATION"
    _PART = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|min|s)?")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        text = str(value).strip().lower().replace(" ", "")
        parts = list(self._PART.finditer(text))
        if not text or "".join(p.group(0) for p in parts) != text:
            self.fail(f"{value!r} is not a duration (90, 30s, 45m, 2h, 1h30m)")
        scale = {"h": 3600.0, "m": 60.0, "min": 60.0, "s": 1.0, None: 1.0}
        return sum(float(p.group(1)) * scale[p.group(2)] for p in parts)


WINDOW_FORM = '"[DAYS ]HH:MM-HH:MM[ ZONE]"'


def window_options(*, calling: bool, resuming: bool = False) -> Callable[[F], F]:
    """``--window`` and ``--no-wait`` (``run``, ``resume``, ``undo``); with ``calling``,
    ``--outside-calling-hours`` and ``--max-wait`` too."""

    def decorate(func: F) -> F:
        kept = " Default: the run's own." if resuming else ""
        options = [
            click.option(
                "--window",
                metavar=WINDOW_FORM,
                help='Send only inside this change window, e.g. "22:00-06:00 Asia/Kolkata" or '
                '"Mon-Fri 22:00-06:00" (zone: IANA name, default the machine\'s; an end before '
                "the start crosses midnight). Outside it the run waits for it to open; at its "
                "end no new row starts, rows in flight finish, and the run exits 75 (resume "
                f"it, or run again with --continue).{kept}",
            ),
            click.option(
                "--no-wait",
                is_flag=True,
                default=None,
                help="Outside the --window: exit 75 at once, nothing sent, instead of waiting.",
            ),
        ]
        if calling:
            options.append(
                click.option(
                    "--max-wait",
                    type=DurationType(),
                    default=None,
                    help="Without a --window: how long a row whose campaign is inside its "
                    "calling hours may wait for them to end (e.g. 2h). [default: 0, do not wait]",
                )
            )
        if calling and not resuming:
            options.append(
                click.option(
                    "--outside-calling-hours",
                    is_flag=True,
                    help="With --pause-active: pause an active campaign only while it is outside "
                    "its own calling hours (allowed_schedule). A row whose campaign is calling "
                    "waits for its hours to end (before the --window closes, or --max-wait), "
                    "else it is left not_attempted for resume (exit 75).",
                )
            )
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def window_values(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The window options given (popped from ``kwargs``; the ones not given left out)."""
    out = {}
    for name in ("window", "no_wait", "max_wait", "outside_calling_hours"):
        value = kwargs.pop(name, None)
        if value is not None and value is not False:
            out[name] = value
    return out


def key_options(func: F) -> F:
    func = click.option(
        "--api-key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read the API key from this file (first line). Keep it mode 0600.",
    )(func)
    func = click.option(
        "--api-key-env",
        default=DEFAULT_KEY_ENV,
        show_default=True,
        metavar="NAME",
        help="Read the API key from this environment variable. There is no flag for the key "
        "itself: command lines end up in shell history and process lists.",
    )(func)
    return func


def scale_options(func: F) -> F:
    """Keys per org, shards, a shared rate, and telling others how the run went."""
    options = [
        click.option(
            "--keys-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Each org's key: a TOML or CSV file mapping org_id to the NAME of an "
            "environment variable or a key file's PATH (never the key). Each key gets its own "
            "pacer (--rate, or the file's rate) and breaker; a refused key stops only its org.",
        ),
        click.option(
            "--shard",
            metavar="K/N",
            help="Apply only the rows whose campaign hashes to shard K of N (1 <= K <= N); "
            "the run directory's name ends -shard-K-of-N. Combine shards with `bulkpatch merge`.",
        ),
        click.option(
            "--shards",
            type=click.IntRange(1, 10_000),
            metavar="N",
            help="Like --shard K/N with K taken from JOB_COMPLETION_INDEX (+1), which a "
            "Kubernetes Indexed Job sets.",
        ),
        click.option(
            "--rate-store",
            metavar="redis://HOST:PORT/DB",
            help="Share one --rate ceiling with every process using this Redis (and the same "
            "key and base URL). If Redis goes away the run pauses, and stops after --max-outage.",
        ),
        click.option(
            "--notify-url",
            envvar="BULKPATCH_NOTIFY_URL",
            metavar="URL",
            help="POST the run's summary here at the end (https, or http to loopback; env "
            "BULKPATCH_NOTIFY_URL keeps it out of process lists). A failure is only logged.",
        ),
        click.option(
            "--notify-format",
            type=click.Choice(["json", "slack"]),
            default="json",
            show_default=True,
            help='json: the summary; slack: a Slack-compatible {"text": ...} message.',
        ),
        click.option(
            "--pushgateway",
            metavar="URL",
            help="Push the run's gauges (last success time, rows by outcome, duration, "
            "requests, 429s) to this Prometheus Pushgateway at the end.",
        ),
        click.option(
            "--metrics-job",
            default="bulkpatch",
            show_default=True,
            metavar="NAME",
            help="The Pushgateway job name.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def output_options(func: F) -> F:
    options = [
        click.option("--quiet", "-q", is_flag=True, help="No progress, no summary table."),
        click.option(
            "--json",
            "json_out",
            is_flag=True,
            help="Print the summary as JSON on stdout; everything else goes to stderr.",
        ),
        click.option(
            "--log-format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="json: progress and events as JSON lines on stderr, for log collectors.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def pace_options(*, resuming: bool) -> Callable[[F], F]:
    """How hard to push the API.  ``resume`` takes them too, defaulting to the run's own."""

    def show(help_text: str, default: str) -> str:
        if resuming:
            return help_text + " Default: as the run had it."
        return help_text + f" [default: {default}]"

    def decorate(func: F) -> F:
        options = [
            click.option(
                "--rate",
                type=RateType(),
                default=None,
                help=show(
                    "Most HTTP requests per second, every kind together (GET, PATCH, PUT, "
                    "retries). 'unlimited' for no limit.",
                    f"{default_rate(False):g}; {default_rate(True):g} with --simulate",
                ),
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 1000),
                default=None,
                help=show("Most requests in flight (the number of workers).", "8"),
            ),
            click.option(
                "--max-attempts",
                type=click.IntRange(1, 100),
                default=None,
                help=show("Tries per request before a row is `failed`.", "5"),
            ),
            click.option(
                "--timeout",
                type=click.FloatRange(0.1, 600),
                default=None,
                help=show("Seconds per request.", "30"),
            ),
            click.option(
                "--max-outage",
                type=click.FloatRange(1, 86400),
                default=None,
                help=show(
                    "Seconds the API may fail as a whole before the run stops (exit 3, "
                    "resumable); also how long campaigns left paused are retried.",
                    "600",
                ),
            ),
        ]
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def common_options(func: F) -> F:
    options = [
        click.option("--org", metavar="ORG", help="org_id for rows without an org_id column."),
        click.option(
            "--workspace", metavar="WS", help="workspace_id for rows without a workspace_id column."
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "parquet", "xlsx"]),
            help="Sheet format (default: from the file extension).",
        ),
        click.option(
            "--sheet-name",
            metavar="NAME",
            help="The worksheet of an .xlsx workbook to read (default: the first).",
        ),
        click.option(
            "--base-url",
            envvar="BULKPATCH_BASE_URL",
            default=DEFAULT_BASE_URL,
            show_default=True,
            metavar="URL",
            help="The Scheduling API (env BULKPATCH_BASE_URL). https:// only, except "
            "for a loopback host.",
        ),
        click.option(
            "--simulate",
            is_flag=True,
            help="Run against the embedded simulator, started here on a free loopback port and "
            "seeded with the sheet's campaigns. No key, no network.",
        ),
        pace_options(resuming=False),
        click.option(
            "--report-dir",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("reports"),
            show_default=True,
            help="Where the run directory is made.",
        ),
        click.option(
            "--seed", type=int, default=0, hidden=True, help="Seed of the --simulate population."
        ),
        key_options,
        scale_options,
        output_options,
    ]
    for option in reversed(options):
        func = option(func)
    return func
