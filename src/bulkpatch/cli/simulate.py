"""``bulkpatch simulate``: serve the embedded simulator of the Scheduling API until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shlex
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from bulkpatch.cli.group import cli
from bulkpatch.core.errors import SheetError
from bulkpatch.core.urls import is_loopback
from bulkpatch.ops.simulate import (
    DEFAULT_API_KEY,
    DEFAULT_ORG,
    DEFAULT_WORKSPACE,
    ERROR_SHAPES,
    LIST_SHAPES,
    NOT_EDITABLE_STATUSES,
    PAGE_URI_FORMS,
    REDIRECT_STATUSES,
    SimulatorConfig,
    keys_from_sheet,
    serve_simulator,
)

FC = TypeVar("FC", bound=Callable[..., Any])

_STATUSES = ("paused", "scheduled", "active", "ended", "cancelled")
_DEFAULT_GENERATE = 100


def _parse_outage(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        start_text, duration_text = value.split(":", 1)
        start, duration = float(start_text), float(duration_text)
    except ValueError:
        raise click.BadParameter("expected START:SECONDS, for example 30:10") from None
    if start < 0 or duration <= 0:
        raise click.BadParameter("START must be >= 0 and SECONDS > 0")
    return start, duration


def _split_ids(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    """``--forbid a --forbid b,c`` -> ``("a", "b", "c")``."""
    ids = [part.strip() for value in values for part in value.split(",")]
    return tuple(dict.fromkeys(i for i in ids if i))


def _key_pairs(values: tuple[str, ...], what: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key or not rest.strip():
            raise click.BadParameter(f"expected KEY={what}, got {_masked(value)}")
        pairs.append((key, rest.strip()))
    return pairs


def _masked(value: str) -> str:
    """A ``KEY=...`` value shown without its key (a key is never echoed)."""
    _, sep, rest = value.partition("=")
    return f"<key>={rest}" if sep else "a value without '='"


def _parse_key_orgs(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for key, orgs in _key_pairs(values, "ORG[,ORG...]"):
        out[key] = tuple(o.strip() for o in orgs.split(",") if o.strip())
    return out


def _parse_key_counts(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, int]:
    out: dict[str, int] = {}
    for key, count in _key_pairs(values, "N"):
        if not count.isdigit():
            raise click.BadParameter(
                f"expected KEY=N with N a whole number >= 0, got <key>={count}"
            )
        out[key] = int(count)
    return out


def _share(name: str, help: str) -> Callable[[FC], FC]:
    """An option taking a share of requests, 0 to 1 (0: the fault is off)."""
    return click.option(name, type=click.FloatRange(0, 1), default=0.0, metavar="P", help=help)


def _count(name: str, help: str) -> Callable[[FC], FC]:
    """An option taking a whole number N >= 0 (unset: no such limit)."""
    return click.option(name, type=click.IntRange(min=0), metavar="N", help=help)


@cli.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--api-key",
    default=DEFAULT_API_KEY,
    show_default=True,
    envvar="BULKPATCH_SIM_API_KEY",
    help="The key the simulator accepts in X-API-Key. A fake key: it opens only the simulator.",
)
@click.option(
    "--campaigns",
    "sheet",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Create every campaign this CSV, Parquet or Excel (.xlsx) sheet names (only its key "
    "columns are read).",
)
@click.option(
    "--generate",
    type=click.IntRange(min=0),
    help=f"Generate N campaigns cmp-000001... [default: {_DEFAULT_GENERATE} without --campaigns]",
)
@click.option(
    "--format",
    "sheet_format",
    type=click.Choice(["csv", "parquet", "xlsx"]),
    help="The sheet's format when its extension does not tell.",
)
@click.option(
    "--org",
    default=None,
    help=f"Org of generated campaigns and of sheet rows without one [default: {DEFAULT_ORG}].",
)
@click.option(
    "--workspace",
    default=None,
    help=f"Workspace likewise [default: {DEFAULT_WORKSPACE}].",
)
@click.option(
    "--status",
    type=click.Choice(_STATUSES),
    help="Give every campaign this status instead of the realistic mix.",
)
@click.option(
    "--rate-limit",
    type=click.IntRange(min=1),
    metavar="RPS",
    help="Most requests per API key in any 1-second window; more get 429 with Retry-After.",
)
@click.option(
    "--latency-ms", type=click.FloatRange(min=0), default=0.0, help="Added to every answer."
)
@click.option(
    "--latency-jitter-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    help="Latency varies uniformly by up to this much either way.",
)
@_share(
    "--fail-rate",
    "Share of requests answered 500/502/503 (JSON or HTML bodies), nothing stored.",
)
@_share(
    "--reset-rate",
    "Share of requests whose connection is dropped (half before the change is stored, half after).",
)
@click.option(
    "--outage",
    metavar="START:SECONDS",
    callback=_parse_outage,
    help="From START seconds after start-up, every request answers 503 for SECONDS.",
)
@_count("--revoke-after", "Every key is revoked after N requests with it: later requests get 401.")
@_count("--live-limit", "Most active + scheduled campaigns per org, checked on resume.")
@_share(
    "--fail-after-store-rate",
    "Share of stored PATCHes and status changes then answered 500/502/504 (JSON or HTML): "
    "the change IS stored.",
)
@click.option(
    "--forbid",
    multiple=True,
    metavar="CAMPAIGN_ID",
    callback=_split_ids,
    help="Every request about this campaign answers 403 (repeatable; or comma-separated).",
)
@click.option(
    "--redirect-to",
    metavar="URL",
    help="Every API request answers a redirect to URL + its path and query.",
)
@click.option(
    "--redirect-status",
    type=click.Choice([str(s) for s in REDIRECT_STATUSES]),
    default="307",
    show_default=True,
    help="The status of --redirect-to.",
)
@_share(
    "--wrong-id-rate",
    "Share of campaign GETs answered with another campaign's detail (its own id).",
)
@_share(
    "--deep-json-rate",
    "Share of GETs answered 200 with a JSON body nested 100,000 deep.",
)
@_share(
    "--patch-answer-differs-rate",
    "Share of stored PATCHes answered 200 naming another campaign or another app_version.",
)
@click.option(
    "--hostile-text",
    is_flag=True,
    help="Error messages carry rich markup ([/]), a formula start (=, +, -, @) and control "
    "characters (CR, LF, ESC); PATCH/PUT answers an updated_at starting with '='; generated "
    "descriptions hold markup and formulas.",
)
@click.option(
    "--error-body-bytes",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Pad every error body to at least N bytes (e.g. 5000000).",
)
@click.option(
    "--error-shape",
    type=click.Choice(ERROR_SHAPES),
    default="detail",
    show_default=True,
    help='4xx bodies: FastAPI {"detail": ...}, {"error": {"message", "code"}} (sarvam), or the '
    'two in turn (alternate). 429 keeps its {"error": ...}.',
)
@click.option(
    "--not-editable-status",
    type=click.Choice([str(s) for s in NOT_EDITABLE_STATUSES]),
    default="409",
    show_default=True,
    help="Status of a PATCH to a campaign that is not paused or scheduled.",
)
@click.option(
    "--extra-api-key",
    "extra_api_keys",
    multiple=True,
    metavar="KEY",
    help="Accept this (fake) key too; each key has its own rate limit (repeatable).",
)
@click.option(
    "--key-orgs",
    multiple=True,
    metavar="KEY=ORG[,ORG]",
    callback=_parse_key_orgs,
    help="That key may act only on these orgs; elsewhere 403 (repeatable).",
)
@click.option(
    "--revoke-key-after",
    multiple=True,
    metavar="KEY=N",
    callback=_parse_key_counts,
    help="That key is revoked after N requests: later ones get 401 (repeatable). "
    'POST /_sim/revoke {"api_key": KEY} revokes one at once.',
)
@click.option(
    "--list-shape",
    type=click.Choice(LIST_SHAPES),
    default="items",
    show_default=True,
    help="The list's items under this key, or a bare JSON list (no total, no page links).",
)
@click.option(
    "--next-page-uri",
    type=click.Choice(PAGE_URI_FORMS),
    default="path",
    show_default=True,
    help="The list's page links: a server-root path with query, a full URL, or none "
    "(page by offset).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds campaigns and faults.")
@click.option("--allow-remote", is_flag=True, help="Allow a --host that is not loopback.")
def simulate(**options: Any) -> None:
    """Serve the embedded simulator of the Scheduling API until Ctrl-C.

    It serves the real API's paths under http://HOST:PORT/api/scheduling, with the API's rules
    and, on request, its faults (every fault is off unless asked for, and repeats under --seed).
    Statistics: GET /_sim/stats; state: GET /_sim/campaigns; change a campaign as someone else
    would: PATCH /_sim/campaigns/ORG/WS/ID with {"dotted.path": value}.
    """
    host: str = options["host"]
    allow_remote: bool = options["allow_remote"]
    sheet: Path | None = options["sheet"]
    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"--host {host} is not a loopback address; add --allow-remote to serve it anyway"
        )
    if sheet is not None and options["generate"] is not None:
        raise click.UsageError("use either --campaigns SHEET or --generate N, not both")
    config = _config(options, _campaigns(options))
    port: int = options["port"]
    try:
        asyncio.run(_serve(config, host, port, sheet, allow_remote))
    except KeyboardInterrupt:  # a signal that arrived before the handlers were installed
        pass
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    click.echo("Simulator stopped.", err=True)


def _campaigns(options: dict[str, Any]) -> tuple[Any, ...]:
    """The keys of the campaigns ``--campaigns SHEET`` names (none without it)."""
    sheet: Path | None = options["sheet"]
    if sheet is None:
        return ()
    try:
        return tuple(
            keys_from_sheet(
                sheet,
                org_id=options["org"],
                workspace_id=options["workspace"],
                format=options["sheet_format"],
            )
        )
    except SheetError as exc:
        raise click.BadParameter(str(exc), param_hint="--campaigns") from None


#: Options that are the simulator's settings of the same name.
_SAME_NAMES = (
    "api_key",
    "seed",
    "rate_limit",
    "latency_ms",
    "latency_jitter_ms",
    "fail_rate",
    "reset_rate",
    "outage",
    "revoke_after",
    "fail_after_store_rate",
    "forbid",
    "redirect_to",
    "wrong_id_rate",
    "deep_json_rate",
    "patch_answer_differs_rate",
    "hostile_text",
    "error_body_bytes",
    "error_shape",
    "extra_api_keys",
    "key_orgs",
    "list_shape",
    "next_page_uri",
)


def _config(options: dict[str, Any], keys: tuple[Any, ...]) -> SimulatorConfig:
    """The simulator's settings from the command's options (a bad one is a usage error)."""
    generate: int | None = options["generate"]
    status: str | None = options["status"]
    extra: dict[str, Any] = {}
    if status is not None:
        extra["status_weights"] = ((status, 1.0),)
    try:
        return SimulatorConfig(
            **{name: options[name] for name in _SAME_NAMES},
            generate=(
                _DEFAULT_GENERATE
                if options["sheet"] is None and generate is None
                else generate or 0
            ),
            org_id=options["org"] or DEFAULT_ORG,
            workspace_id=options["workspace"] or DEFAULT_WORKSPACE,
            campaigns=keys,
            live_limit_per_org=options["live_limit"],
            redirect_status=int(options["redirect_status"]),
            not_editable_status=int(options["not_editable_status"]),
            revoke_keys_after=options["revoke_key_after"],
            **extra,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


async def _serve(
    config: SimulatorConfig, host: str, port: int, sheet: Path | None, allow_remote: bool
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(sig, stop.set)
    async with serve_simulator(config, host=host, port=port, allow_remote=allow_remote) as sim:
        # The campaigns live as long as the simulator: out of the collector's way, so that a
        # full collection over them never stalls the server (and bunches the starts it counts).
        gc.freeze()
        click.echo(_banner(config, sim.base_url, sim.root_url, len(sim.state), sheet))
        await stop.wait()


def _banner(
    config: SimulatorConfig, base_url: str, root_url: str, count: int, sheet: Path | None
) -> str:
    # The default key is a published fake; a key chosen by the user is not echoed.
    key = config.api_key if config.api_key == DEFAULT_API_KEY else "<your --api-key>"
    shapes = config.shape_summary()
    keys = len(config.api_keys)
    if sheet is not None:
        source = f"{count} campaigns named by {sheet}"
        target = shlex.quote(str(sheet))
    else:
        source = f"{count} generated campaigns in {config.org_id}/{config.workspace_id}"
        target = f"SHEET --org {config.org_id} --workspace {config.workspace_id}"
    return "\n".join(
        [
            f"Scheduling API simulator: {source} (seed {config.seed})",
            f"  base URL: {base_url}",
            f"  stats:    {root_url}/_sim/stats",
            f"  faults:   {config.fault_summary()}",
            *([f"  shapes:   {shapes}"] if shapes else []),
            f"  API key:  {key}  (a fake key, accepted only by this simulator)",
            *([f"            and {keys - 1} more keys (--extra-api-key)"] if keys > 1 else []),
            "Try:",
            f"  SARVAM_API_KEY={key} bulkpatch run {target} --base-url {base_url}",
            "Press Ctrl-C to stop.",
        ]
    )
