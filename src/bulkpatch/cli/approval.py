"""The round trip's options of ``run`` and ``plan``: ``--plan``, ``--approved-by``, ``--canary``,
``--canary-continue``, ``--max-errors``; ``plan --out``.

``cli/run.py`` applies :func:`safeguard_options` / :func:`plan_out_option` and hands the values
to :func:`take_safeguards`; ``cli/running.py`` then runs a plan (``run_plan``) or a sheet with
the options of :meth:`Safeguards.options`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from bulkpatch.core.maxerrors import parse_max_errors
from bulkpatch.core.options import BINDING_OPTIONS
from bulkpatch.core.rules import CANARY_RULE, NO_APPROVED_DIGEST

F = TypeVar("F", bound=Callable[..., Any])
#: Options of ``run`` that say how to run a plan, not what it is: ``run --plan`` passes them on.
RUN_TIME_OPTIONS = (
    "keys_file",
    "shard",
    "rate_store",
    "notify_url",
    "notify_format",
    "pushgateway",
    "metrics_job",
)


class MaxErrorsType(click.ParamType):  # type: ignore[type-arg]
    """``N`` rows or ``N%``."""

    name = "N|N%"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return str(parse_max_errors(str(value)))
        except ValueError as exc:
            self.fail(str(exc).removeprefix("--max-errors "))


def safeguard_options(func: F) -> F:
    options = [
        click.option(
            "--plan",
            "plan_dir",
            type=click.Path(file_okay=False, path_type=Path),
            help="Apply exactly the plan in this directory (`bulkpatch plan SHEET --out DIR`): "
            "its own copy of the sheet, with its options. A row whose campaign changed since the "
            "plan is `skipped` as stale; a plan directory whose files changed is refused. SHEET "
            "may be left out (if given, it must be the sheet planned).",
        ),
        click.option(
            "--approved-by",
            metavar="NAME",
            help="Who approved the plan (with --plan): recorded in the journal and summary.json.",
        ),
        click.option(
            "--approved-digest",
            metavar="SHA256",
            help="The plan's digest the reviewer approved (plan.html shows it): with --plan, "
            "required; the plan is applied only if its digest, computed from its files, is this "
            "one (else exit 2, nothing sent). Recorded in the journal and summary.json.",
        ),
        click.option(
            "--canary",
            type=click.IntRange(min=1),
            metavar="N",
            help="Apply the first N rows that write, read them back, show what changed and "
            "stop. " + CANARY_RULE,
        ),
        click.option(
            "--canary-continue",
            is_flag=True,
            help="With --canary: go on with the rest when every canary row held (else stop, "
            "exit 3).",
        ),
        click.option(
            "--max-errors",
            type=MaxErrorsType(),
            help="Stop the run (exit 3, resumable) once more than N rows, or more than N% of "
            "the rows finished (checked from 20 rows on), ended rejected or failed.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def plan_out_option(func: F) -> F:
    return click.option(
        "--out",
        "out",
        type=click.Path(file_okay=False, path_type=Path),
        help="Also write the plan to this new directory for a reviewer: plan.csv, plan.html, "
        "plan.json (the sheet's sha256, the plan's digest) and a copy of the sheet; "
        "`bulkpatch run --plan DIR` then applies exactly it.",
    )(func)


@dataclass(frozen=True)
class Safeguards:
    plan_dir: Path | None
    approved_by: str | None
    approved_digest: str | None
    canary: int | None
    canary_continue: bool
    max_errors: str | None

    def options(self) -> dict[str, Any]:
        """The RunOptions fields of a run (the plan's are set by ``run --plan``)."""
        return {
            "canary": self.canary,
            "canary_continue": self.canary_continue,
            "max_errors": self.max_errors,
        }


def take_safeguards(kwargs: dict[str, Any], sheet: Path | None) -> Safeguards:
    """Pop the round trip's options from ``kwargs`` and check how they go together."""
    guards = Safeguards(
        plan_dir=kwargs.pop("plan_dir"),
        approved_by=kwargs.pop("approved_by"),
        approved_digest=kwargs.pop("approved_digest"),
        canary=kwargs.pop("canary"),
        canary_continue=kwargs.pop("canary_continue"),
        max_errors=kwargs.pop("max_errors"),
    )
    if guards.plan_dir is None and sheet is None:
        raise click.UsageError("Missing argument 'SHEET' (or --plan PLAN_DIR).")
    if guards.approved_by is not None and guards.plan_dir is None:
        raise click.UsageError("--approved-by names who approved a plan: use it with --plan.")
    if guards.approved_digest is not None and guards.plan_dir is None:
        raise click.UsageError("--approved-digest is a plan's digest: use it with --plan.")
    if guards.plan_dir is not None and guards.approved_digest is None:
        raise click.UsageError(f"{NO_APPROVED_DIGEST}.")
    if guards.approved_by is not None and not guards.approved_by.strip():
        raise click.UsageError("--approved-by needs a name.")
    if guards.canary_continue and guards.canary is None:
        raise click.UsageError("--canary-continue goes with --canary N.")
    if guards.plan_dir is not None and kwargs.get("no_read"):
        raise click.UsageError("--no-read cannot apply a plan: each campaign must be read.")
    return guards


def given_options(ctx: click.Context, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The plan-shaping options the user named (command line or environment)."""
    named = {"fmt": "fmt"}
    out: dict[str, Any] = {}
    for name in BINDING_OPTIONS:
        param = named.get(name, name)
        if param not in kwargs:
            continue
        source = ctx.get_parameter_source(param)
        if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            out[name] = kwargs[param]
    return out
