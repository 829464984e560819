"""What ``bulkpatch run`` loads before its first request: what the run it was given needs, and
nothing more, loaded with the garbage collector paused.  A child process runs the command
against a simulator over loopback; an audit hook notes the modules loaded (and the collector's
state) when it first connects (the first request), and again at its end."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import anyio

from bulkpatch.simulator import Simulator
from support.runs import cli_env, write_sheet

#: Loaded for a run that asks for them, never before the first request of a plain one: the
#: simulator (--simulate), the HTML renderers (the end of the run), rich (a terminal), pyarrow
#: (Parquet), fastexcel and xlsxwriter (.xlsx), prometheus_client (--pushgateway), redis
#: (--rate-store), OpenTelemetry (--otel); aiohttp's server side comes only with the simulator.
NOT_BEFORE_THE_FIRST_REQUEST = (
    "bulkpatch.simulator",
    "bulkpatch.engine.simulated",
    "bulkpatch.html",
    "rich",
    "aiohttp.web",
    "pyarrow",
    "fastexcel",
    "xlsxwriter",
    "prometheus_client",
    "redis",
    "opentelemetry",
    "bulkpatch.ops.otel",
    "bulkpatch.transport.ratestore",
)
#: Runs the command line (the console script's ``main``, or the group as a test runs it) with
#: an audit hook; prints what it saw as JSON on the last line.
CHILD = """
import gc, json, sys
first, collector = [], []
def hook(event, args):
    if event == "socket.connect" and not first:
        first.append(sorted(sys.modules))
        collector.extend([gc.isenabled(), gc.get_freeze_count()])
sys.addaudithook(hook)
from bulkpatch.cli import cli, main
args, entry = json.loads(sys.argv[1]), sys.argv[2]
code = 0
try:
    if entry == "main":
        sys.argv = ["bulkpatch", *args]
        main()
    else:
        cli.main(args, prog_name="bulkpatch")
except SystemExit as exit:
    code = exit.code
sys.stdout.flush()
found = {"first": first[0] if first else None, "end": sorted(sys.modules), "code": code,
         "collector": collector}
print("\\nMODULES " + json.dumps(found))
"""


def loaded(modules: list[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


async def run_child(
    sim: Simulator, tmp_path: Path, *more: str, entry: str = "main"
) -> dict[str, Any]:
    rows = [
        {"org_id": "org-demo", "workspace_id": "ws-demo", "campaign_id": f"cmp-{n:06d}"}
        | {"name": f"renamed {n}"}
        for n in (1, 2, 3)
    ]
    sheet = write_sheet(tmp_path / "sheet.csv", rows)
    args = ["run", str(sheet), "--base-url", sim.base_url, "--report-dir", str(tmp_path), *more]
    # asyncio's own loop: its sockets connect in Python, where the audit hook sees them
    env = cli_env(sim.config.api_key) | {"BULKPATCH_EVENT_LOOP": "asyncio"}
    with anyio.fail_after(60):
        done = await anyio.run_process(
            [sys.executable, "-c", CHILD, json.dumps(args), entry], env=env, check=False
        )
    out = done.stdout.decode()
    assert "\nMODULES " in out, done.stderr.decode()[-2000:]
    found: dict[str, Any] = json.loads(out.rpartition("\nMODULES ")[2])
    assert found["code"] in (0, 1), done.stderr.decode()[-2000:]
    assert found["first"] is not None, "no connection seen"
    return found


async def test_a_run_loads_no_simulator_html_rich_or_optional_format_before_its_first_request(
    simulator: Simulator, tmp_path: Path
) -> None:
    found = await run_child(simulator, tmp_path)

    assert loaded(found["first"], NOT_BEFORE_THE_FIRST_REQUEST) == []
    # what a run needs is there: the client, the sheet's reader, the journal
    assert {"aiohttp", "polars", "bulkpatch.engine.session"} <= set(found["first"])
    # the report is written at the end, by the renderers loaded then; a CSV run against the
    # API never needs the rest
    assert "bulkpatch.html.reportfile" in found["end"]
    never = tuple(n for n in NOT_BEFORE_THE_FIRST_REQUEST if n not in ("bulkpatch.html", "rich"))
    assert loaded(found["end"], never) == []


async def test_a_quiet_json_run_off_a_terminal_never_loads_rich(
    simulator: Simulator, tmp_path: Path
) -> None:
    found = await run_child(simulator, tmp_path, "--quiet", "--json")

    assert loaded(found["end"], ("rich",)) == []


async def test_the_bulkpatch_process_loads_a_run_with_the_collector_paused_then_freezes_it(
    simulator: Simulator, tmp_path: Path
) -> None:
    found = await run_child(simulator, tmp_path, "--quiet")

    enabled, frozen = found["collector"]
    assert enabled  # on again for the run itself
    assert frozen > 20_000  # what the imports made: never scanned again, nor at exit


async def test_the_group_run_inside_another_process_leaves_its_collector_alone(
    simulator: Simulator, tmp_path: Path
) -> None:
    found = await run_child(simulator, tmp_path, "--quiet", entry="group")

    assert found["collector"] == [True, 0]
