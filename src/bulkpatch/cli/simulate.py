"""``bulkpatch simulate``: serve the embedded simulator of the Scheduling API until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
from pathlib import Path
from typing import Any

import click

from bulkpatch.cli import cli
from bulkpatch.simulator import (
    DEFAULT_API_KEY,
    DEFAULT_ORG,
    DEFAULT_WORKSPACE,
    SimulatorConfig,
    keys_from_sheet,
    serve_simulator,
)
from bulkpatch.urls import is_loopback

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
    help="Create every campaign this CSV/Parquet sheet names (only its key columns are read).",
)
@click.option(
    "--generate",
    type=click.IntRange(min=0),
    help=f"Generate N campaigns cmp-000001... [default: {_DEFAULT_GENERATE} without --campaigns]",
)
@click.option(
    "--format",
    "sheet_format",
    type=click.Choice(["csv", "parquet"]),
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
@click.option(
    "--fail-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="P",
    help="Share of requests answered 500/502/503 (JSON or HTML bodies).",
)
@click.option(
    "--reset-rate",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="P",
    help="Share of requests whose connection is dropped (half before the change is stored, "
    "half after).",
)
@click.option(
    "--outage",
    metavar="START:SECONDS",
    callback=_parse_outage,
    help="From START seconds after start-up, every request answers 503 for SECONDS.",
)
@click.option(
    "--revoke-after",
    type=click.IntRange(min=0),
    metavar="N",
    help="The key is revoked after N requests: later requests get 401.",
)
@click.option(
    "--live-limit",
    type=click.IntRange(min=0),
    metavar="N",
    help="Most active + scheduled campaigns per org, checked on resume.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seeds campaigns and faults.")
@click.option("--allow-remote", is_flag=True, help="Allow a --host that is not loopback.")
def simulate(
    host: str,
    port: int,
    api_key: str,
    sheet: Path | None,
    generate: int | None,
    sheet_format: str | None,
    org: str | None,
    workspace: str | None,
    status: str | None,
    rate_limit: int | None,
    latency_ms: float,
    latency_jitter_ms: float,
    fail_rate: float,
    reset_rate: float,
    outage: tuple[float, float] | None,
    revoke_after: int | None,
    live_limit: int | None,
    seed: int,
    allow_remote: bool,
) -> None:
    """Serve the embedded simulator of the Scheduling API until Ctrl-C.

    It serves the real API's paths under http://HOST:PORT/api/scheduling, with the API's rules
    and, on request, its faults. Statistics: GET /_sim/stats; state: GET /_sim/campaigns.
    """
    if not allow_remote and not is_loopback(host):
        raise click.UsageError(
            f"--host {host} is not a loopback address; add --allow-remote to serve it anyway"
        )
    if sheet is not None and generate is not None:
        raise click.UsageError("use either --campaigns SHEET or --generate N, not both")
    keys: tuple[Any, ...] = ()
    if sheet is not None:
        try:
            keys = tuple(
                keys_from_sheet(sheet, org_id=org, workspace_id=workspace, format=sheet_format)
            )
        except Exception as exc:  # polars raises many kinds; any of them means "cannot read"
            raise click.BadParameter(str(exc), param_hint="--campaigns") from None
    extra: dict[str, Any] = {}
    if status is not None:
        extra["status_weights"] = ((status, 1.0),)
    try:
        config = SimulatorConfig(
            api_key=api_key,
            seed=seed,
            generate=_DEFAULT_GENERATE if sheet is None and generate is None else generate or 0,
            org_id=org or DEFAULT_ORG,
            workspace_id=workspace or DEFAULT_WORKSPACE,
            campaigns=keys,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            latency_jitter_ms=latency_jitter_ms,
            fail_rate=fail_rate,
            reset_rate=reset_rate,
            outage=outage,
            revoke_after=revoke_after,
            live_limit_per_org=live_limit,
            **extra,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        asyncio.run(_serve(config, host, port, sheet, allow_remote))
    except KeyboardInterrupt:  # a signal that arrived before the handlers were installed
        pass
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    click.echo("Simulator stopped.", err=True)


async def _serve(
    config: SimulatorConfig, host: str, port: int, sheet: Path | None, allow_remote: bool
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on every platform
            loop.add_signal_handler(sig, stop.set)
    async with serve_simulator(config, host=host, port=port, allow_remote=allow_remote) as sim:
        click.echo(_banner(config, sim.base_url, sim.root_url, len(sim.state), sheet))
        await stop.wait()


def _faults(config: SimulatorConfig) -> str:
    parts: list[str] = []
    if config.rate_limit is not None:
        parts.append(f"rate limit {config.rate_limit}/s per key")
    if config.latency_ms or config.latency_jitter_ms:
        parts.append(f"latency {config.latency_ms:g}±{config.latency_jitter_ms:g} ms")
    if config.fail_rate:
        parts.append(f"fail rate {config.fail_rate:g}")
    if config.reset_rate:
        parts.append(f"reset rate {config.reset_rate:g}")
    if config.outage is not None:
        parts.append(f"outage {config.outage[1]:g} s from {config.outage[0]:g} s")
    if config.revoke_after is not None:
        parts.append(f"key revoked after {config.revoke_after} requests")
    if config.live_limit_per_org is not None:
        parts.append(f"at most {config.live_limit_per_org} live campaigns per org")
    return ", ".join(parts) or "none"


def _banner(
    config: SimulatorConfig, base_url: str, root_url: str, count: int, sheet: Path | None
) -> str:
    # The default key is a published fake; a key chosen by the user is not echoed.
    key = config.api_key if config.api_key == DEFAULT_API_KEY else "<your --api-key>"
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
            f"  faults:   {_faults(config)}",
            f"  API key:  {key}  (a fake key, accepted only by this simulator)",
            "Try:",
            f"  SARVAM_API_KEY={key} bulkpatch run {target} --base-url {base_url}",
            "Press Ctrl-C to stop.",
        ]
    )
