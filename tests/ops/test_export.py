"""``bulkpatch export``: live campaigns to a sheet that runs back exactly, against the simulator."""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.stopper import Stopper
from bulkpatch.sheet import open_sheet
from bulkpatch.simulator import SimulatorConfig, SimulatorState, build_app
from bulkpatch.simulator.population import generate_campaign
from bulkpatch.validation.where import matches_all, parse_where
from support.disks import bulkpatch_limited, tmpfs
from support.roundtrips import export, read_csv, write_rows
from support.runs import StartSimulator, bulkpatch, run_sheet

ORG, WS = "org-demo", "ws-demo"
ANCHOR = datetime(2026, 1, 15, tzinfo=UTC)
WHERE = ("allowed_schedule.timezone=Asia/Kolkata",)
STATUSES = ("paused", "scheduled")


def matching(
    sim: Any, statuses: tuple[str, ...] = STATUSES, where: tuple[str, ...] = WHERE
) -> set[str]:
    conditions = tuple(parse_where(w) for w in WHERE)
    return {
        d["campaign_id"]
        for d in sim.state.dump()
        if d["status"] in STATUSES and matches_all(conditions, d)
    }


def without_stamps(detail: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(detail)
    for name in ("updated_at", "updated_by"):
        out.pop(name, None)
    return out


@pytest.mark.parametrize(
    ("shape", "links"),
    [
        ("items", "path"),
        ("bare", "none"),
        ("data", "absolute"),
        ("results", "none"),
        ("campaigns", "path"),
    ],
)
async def test_an_untouched_export_runs_as_all_unchanged_whatever_the_list_shape(
    shape: str,
    links: str,
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = await start_simulator(generate=320, list_shape=shape, next_page_uri=links)
    out = tmp_path / "live.csv"

    done = await export(out, sim, monkeypatch, statuses=STATUSES, where=WHERE)

    assert done.code == 0, done.output
    rows = read_csv(out)
    wanted = matching(sim)
    assert {r["campaign_id"] for r in rows} == wanted
    assert len(rows) == len(wanted) > 100  # more than one page
    assert done.summary is not None
    assert done.summary.outcomes["unreadable"] == 0
    # Oldest first, by the list's own order; each campaign once.
    assert len({r["campaign_id"] for r in rows}) == len(rows)
    stats = sim.stats()
    assert stats["requests"].get("PATCH", {}) == {}
    run = await run_sheet(out, sim, monkeypatch)
    assert run.code == 0, run.output
    assert set(run.outcomes().values()) == {"unchanged"}
    assert sim.stats()["patches_applied"] == {}


async def test_an_edited_export_changes_exactly_the_edited_cells(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=40, status_weights=(("paused", 1.0),))
    out = tmp_path / "live.csv"
    assert (await export(out, sim, monkeypatch)).code == 0
    before = {d["campaign_id"]: d for d in sim.state.dump()}
    rows = read_csv(out)
    rows[0]["allowed_schedule.allowed_start_time"] = "07:45"
    rows[3]["app_config.app_version"] = "9"
    rows[3]["allowed_schedule.allowed_days"] = "Mon-Sat"
    edited = write_rows(tmp_path / "edited.csv", rows)

    run = await run_sheet(edited, sim, monkeypatch)

    assert run.code == 0, run.output
    outcomes = run.outcomes()
    first, fourth = rows[0]["campaign_id"], rows[3]["campaign_id"]
    assert {c for c, o in outcomes.items() if o == "updated"} == {first, fourth}
    assert sim.stats()["patches_applied"] == {f"{ORG}/{WS}/{first}": 1, f"{ORG}/{WS}/{fourth}": 1}
    after = {d["campaign_id"]: d for d in sim.state.dump()}
    expected = copy.deepcopy(before)
    expected[first]["allowed_schedule"]["allowed_start_time"] = "07:45"
    expected[fourth]["app_config"]["app_version"] = 9
    expected[fourth]["app_version"] = 9
    expected[fourth]["allowed_schedule"]["allowed_days"] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
    ]
    for cid in before:
        assert without_stamps(after[cid]) == without_stamps(expected[cid]), cid


async def test_a_campaign_changed_after_the_export_is_skipped_as_stale_never_overwritten(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=12, status_weights=(("scheduled", 1.0),))
    out = tmp_path / "live.csv"
    assert (await export(out, sim, monkeypatch)).code == 0
    rows = read_csv(out)
    for row in rows:
        row["app_config.app_version"] = "8"
    changed = rows[5]["campaign_id"]
    sim.state.edit((ORG, WS, changed), {"description": "edited by someone else"})
    edited = write_rows(tmp_path / "edited.csv", rows)

    run = await run_sheet(edited, sim, monkeypatch)

    assert run.code == 1
    results = {r["campaign_id"]: r for r in run.results()}
    assert results[changed]["outcome"] == "skipped"
    assert results[changed]["reason"].startswith("stale: expected updated_at")
    assert changed not in {k.rsplit("/", 1)[1] for k in sim.stats()["patches_applied"]}
    others = {r["outcome"] for c, r in results.items() if c != changed}
    assert others <= {"updated", "unchanged"}
    assert "updated" in others


@pytest.mark.parametrize("suffix", [".xlsx", ".parquet"])
async def test_an_export_to_xlsx_or_parquet_runs_back_as_all_unchanged(
    suffix: str, tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=60)
    out = tmp_path / f"live{suffix}"

    done = await export(out, sim, monkeypatch, columns=("allowed_schedule", "app_config"))

    assert done.code == 0, done.output
    sheet = open_sheet(out)
    assert sheet.kind == suffix[1:]
    assert sum(1 for _ in sheet.iter_rows()) == 60
    run = await run_sheet(out, sim, monkeypatch)
    assert run.code == 0, run.output
    assert set(run.outcomes().values()) == {"unchanged"}
    assert (run.run_dir / f"results{suffix}").exists() or suffix == ".xlsx"


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_a_next_link_to_another_host_is_never_followed_and_the_export_pages_by_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_elsewhere: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen_elsewhere.append(request.headers.get("X-API-Key", ""))
        return web.json_response([])

    other = web.Application()
    other.router.add_get("/{tail:.*}", elsewhere)
    other_runner, other_port = await _serve(other)

    @web.middleware
    async def foreign_links(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if request.path.endswith("/campaigns") and isinstance(response, web.Response):
            body = json.loads(response.body)  # type: ignore[arg-type]
            if body.get("next_page_uri"):
                body["next_page_uri"] = f"http://127.0.0.1:{other_port}{body['next_page_uri']}"
            return web.json_response(body)
        return response

    config = SimulatorConfig(generate=150, seed=7, anchor=ANCHOR)
    app = build_app(SimulatorState(config))
    app.middlewares.append(foreign_links)
    runner, port = await _serve(app)
    try:

        class Sim:
            base_url = f"http://127.0.0.1:{port}/api/scheduling"

            class config:
                api_key = "sim-key"

        out = tmp_path / "live.csv"
        done = await export(out, Sim(), monkeypatch)
    finally:
        await runner.cleanup()
        await other_runner.cleanup()

    assert done.code == 0, done.output
    assert len(read_csv(out)) == 150
    assert seen_elsewhere == []
    [warning] = done.said("next_link_refused")
    assert f"points at another host (127.0.0.1:{other_port})" in warning
    assert "Paging by offset instead" in warning


async def test_a_list_that_ignores_offset_ends_the_export_instead_of_looping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages: list[str] = []

    async def listing(request: web.Request) -> web.Response:
        pages.append(request.query_string)
        items = [{"campaign_id": "c1"}, {"campaign_id": "c2"}]
        return web.json_response({"items": items, "total": 1000})

    async def detail(request: web.Request) -> web.Response:
        key = CampaignKey(ORG, WS, request.match_info["cid"])
        return web.json_response(generate_campaign(key, seed=1, anchor=ANCHOR))

    app = web.Application()
    root = f"/api/scheduling/v1/orgs/{ORG}/workspaces/{WS}/campaigns"
    app.router.add_get(root, listing)
    app.router.add_get(root + "/{cid}", detail)
    runner, port = await _serve(app)
    try:

        class Fake:
            base_url = f"http://127.0.0.1:{port}/api/scheduling"

            class config:
                api_key = "fake-key"

        out = tmp_path / "live.csv"
        done = await export(out, Fake(), monkeypatch)
    finally:
        await runner.cleanup()

    assert done.code == 0, done.output
    assert [r["campaign_id"] for r in read_csv(out)] == ["c1", "c2"]
    assert len(pages) == 2
    assert done.said("list_repeats")


async def test_a_campaign_that_cannot_be_read_is_left_out_named_and_exits_1(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=10, forbid=("cmp-000004",))
    out = tmp_path / "live.csv"

    done = await export(out, sim, monkeypatch)

    assert done.code == 1
    assert "cmp-000004" not in {r["campaign_id"] for r in read_csv(out)}
    assert len(read_csv(out)) == 9
    [warning] = done.said("export_unreadable")
    assert "cmp-000004 (forbidden" in warning or "cmp-000004 (HTTP 403" in warning


async def test_a_refused_key_stops_the_export_and_writes_nothing(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=10)
    out = tmp_path / "live.csv"

    class WrongKey:
        base_url = sim.base_url

        class config:
            api_key = "not-the-key"

    done = await export(out, WrongKey(), monkeypatch)

    assert done.code == 3
    assert not out.exists()
    assert "nothing was written" in " ".join(done.said("export_stopped"))
    assert sim.stats()["requests"]["GET"] == {"401": 1}


async def test_values_a_sheet_cannot_hold_exactly_are_left_empty_and_said(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        generate=3,
        status_weights=(("paused", 1.0),),
        overrides={(ORG, WS, "cmp-000002"): {"name": " padded name "}},
    )
    out = tmp_path / "live.csv"

    done = await export(out, sim, monkeypatch, columns=("name", "description"))

    assert done.code == 0
    rows = {r["campaign_id"]: r for r in read_csv(out)}
    assert rows["cmp-000002"]["name"] == ""
    assert rows["cmp-000002"]["expect.name"] == ""
    assert rows["cmp-000002"]["#status"] == "paused"
    assert done.said("export_empty_cells")
    run = await run_sheet(out, sim, monkeypatch, skip_invalid=True)
    assert set(run.outcomes().values()) <= {"unchanged", "invalid"}
    assert sim.stats()["patches_applied"] == {}


async def test_campaigns_holding_nothing_in_the_chosen_columns_are_left_out_so_the_sheet_runs(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(
        generate=4,
        status_weights=(("paused", 1.0),),
        overrides={
            (ORG, WS, "cmp-000002"): {"description": None},
            (ORG, WS, "cmp-000004"): {"description": None},
        },
    )
    out = tmp_path / "live.csv"

    done = await export(out, sim, monkeypatch, columns=("description",))

    assert done.code == 0, done.output
    assert [r["campaign_id"] for r in read_csv(out)] == ["cmp-000001", "cmp-000003"]
    [said] = done.said("export_blank_rows")
    assert "2 campaign(s)" in said
    assert "cmp-000002, cmp-000004" in said
    run = await run_sheet(out, sim, monkeypatch)  # untouched: runs, every row unchanged
    assert run.code == 0, run.output
    assert set(run.outcomes().values()) == {"unchanged"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"columns": ("allowed_schedule.timezon",)}, "did you mean `allowed_schedule.timezone`"),
        ({"columns": ("allowed_schedule", "allowed_schedule.timezone")}, "lies inside"),
        ({"statuses": ("running",)}, "--status 'running' is not one of"),
        ({"org": "org/../x"}, "--org"),
        ({"columns": ("expect.updated_at",)}, "export writes `expect.updated_at`"),
    ],
)
async def test_bad_options_are_refused_before_anything_is_sent(
    kwargs: dict[str, Any],
    message: str,
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sim = await start_simulator(generate=3)

    done = await export(tmp_path / "live.csv", sim, monkeypatch, **kwargs)

    assert done.code == 2
    assert message in done.output
    assert sim.stats()["requests_total"] == 0


async def test_the_command_exports_from_the_embedded_simulator_and_its_sheet_runs_unchanged(
    tmp_path: Path,
) -> None:
    out = tmp_path / "live.xlsx"
    exported = await bulkpatch(
        "export", out, "--org", "org-x", "--workspace", "ws-y", "--simulate",
        "--rate", "unlimited", "--where", "app_config.app_version>=3", cwd=tmp_path,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr.decode()
    assert b"exported " in exported.stderr
    run = await bulkpatch("run", out, "--simulate", "--rate", "unlimited", "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr.decode()
    assert b'"unchanged"' in run.stdout

    bad = await bulkpatch(
        "export", tmp_path / "x.csv", "--org", "o", "--workspace", "w", "--simulate",
        "--where", "app_config.app_version<seven", cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2
    assert b"compares numbers or ISO 8601 times" in bad.stderr
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("ext", ["xlsx", "parquet", "csv"])
async def test_an_export_onto_a_full_disk_says_so_exits_2_and_leaves_nothing_in_the_destination(
    tmp_path: Path, ext: str
) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"live.{ext}"
    args = ("export", out, "--org", "org-x", "--workspace", "ws-y", "--simulate", "--quiet",
            "--rate", "unlimited")  # fmt: skip

    full = await bulkpatch_limited(6000, *args, api_key="unused-fake-key", cwd=tmp_path)

    err = full.stderr.decode()
    assert full.returncode == 2, err
    assert f"cannot write {out}: File too large" in err
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    assert list(out_dir.iterdir()) == []
    with tmpfs(tmp_path / "small", "size=12k,mode=0700") as disk:
        out = disk / f"live.{ext}"
        full = await bulkpatch("export", out, *args[2:], cwd=tmp_path)
        err = full.stderr.decode()
        assert full.returncode == 2, err
        assert f"cannot write {out}: No space left on device" in err
        assert "Traceback" not in err
        assert "Exception ignored" not in err
        assert list(disk.iterdir()) == []


async def test_ctrl_c_stops_the_export_at_once_and_writes_nothing(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=400, latency_ms=50)
    stopper = Stopper()
    out = tmp_path / "live.csv"

    async def interrupt_soon() -> None:
        await anyio.sleep(0.3)
        stopper.stop("interrupted by SIGINT")

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(interrupt_soon)
        done = await export(out, sim, monkeypatch, stopper=stopper)

    assert done.code == 3
    assert time.monotonic() - started < 3
    assert not out.exists()
    assert "interrupted by SIGINT" in " ".join(done.said("export_stopped"))
    assert sum(sim.stats()["requests"]["GET"].values()) < 400


async def test_an_export_named_with_an_unknown_extension_is_refused_naming_the_ones_it_writes(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(generate=3)

    done = await export(tmp_path / "live.txt", sim, monkeypatch)

    assert done.code == 2
    assert "must end in .csv, .parquet or .xlsx" in done.output
    assert "--format" not in done.output  # export has no such option
    assert sim.stats()["requests_total"] == 0
