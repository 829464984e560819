"""Every command bulkpatch prints for a person to run next, run as printed: it reaches the same
campaigns, through the same API, with the same key source and report directory (never a key,
never a password: a rate store's is a placeholder the person fills in)."""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
from pathlib import Path

import pytest
import redis

from support.redis_server import MISSING, RedisServer, redis_server_binary
from support.runs import StartSimulator, bulkpatch, write_sheet

ORG, WS = "org-n", "ws-n"
KEY_ENV = "MY_SCHEDULING_KEY"


async def run(argv: list[str], key: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """``bulkpatch ARGV`` in a child process whose key is only in ``KEY_ENV``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SARVAM_API_KEY", "BULKPATCH_BASE_URL", KEY_ENV)
    }
    env.update({KEY_ENV: key, "COLUMNS": "1000"})
    assert argv[0] == "bulkpatch", argv
    return await bulkpatch(*argv[1:], env=env, cwd=cwd)


def printed(done: subprocess.CompletedProcess[bytes], after: str) -> list[str]:
    """The command printed after ``after`` on stderr, as argv."""
    [line] = [x for x in done.stderr.decode().splitlines() if after in x]
    return shlex.split(line.split(after, 1)[1])


def paused(names: list[str]) -> dict[tuple[str, str, str], dict[str, object]]:
    return {(ORG, WS, c): {"status": "paused"} for c in names}


@pytest.mark.slow
async def test_export_then_plan_then_run_plan_as_printed_reach_the_exported_campaigns(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = [f"e{i}" for i in range(4)]
    sim = await start_simulator(overrides=paused(names))
    key = sim.config.api_key
    common = ["--base-url", sim.base_url, "--api-key-env", KEY_ENV]

    exported = await run(
        ["bulkpatch", "export", "live.csv", "--org", ORG, "--workspace", WS, "--columns", "name",
         *common, "--rate", "unlimited"],
        key, tmp_path,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr.decode()
    sheet = tmp_path / "live.csv"
    with sheet.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with sheet.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**r, "name": "Renamed"} for r in rows)
    plan_argv = [w.replace("PLAN_DIR", "plan") for w in printed(exported, "edit it, then: ")]
    assert sim.base_url in plan_argv
    assert KEY_ENV in plan_argv

    planned = await run(plan_argv, key, tmp_path)

    assert planned.returncode == 0, planned.stderr.decode()
    apply_argv = [
        w.replace("NAME", "asha") for w in printed(planned, "apply exactly this plan with: ")
    ]
    assert KEY_ENV in apply_argv
    applied = await run(apply_argv, key, tmp_path)
    assert applied.returncode == 0, applied.stderr.decode()
    assert set(sim.stats()["patches_applied"]) == {f"{ORG}/{WS}/{c}" for c in names}


@pytest.mark.slow
async def test_a_canary_run_then_its_printed_step_for_the_rest_reach_the_same_campaigns(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    names = [f"c{i}" for i in range(8)]
    sim = await start_simulator(overrides=paused(names))
    sheet = write_sheet(tmp_path / "noorg.csv", [{"campaign_id": c, "name": "N"} for c in names])

    first = await run(
        ["bulkpatch", "run", str(sheet), "--org", ORG, "--workspace", WS, "--canary", "2",
         "--rate", "unlimited", "--base-url", sim.base_url, "--api-key-env", KEY_ENV,
         "--report-dir", "r", "--json"],
        sim.config.api_key, tmp_path,
    )  # fmt: skip

    assert first.returncode == 0, first.stderr.decode()
    [step] = json.loads(first.stdout)["next_steps"]
    assert step["command"].startswith("bulkpatch resume ")
    rest = await run(shlex.split(step["command"]), sim.config.api_key, tmp_path)
    assert rest.returncode == 0, rest.stderr.decode()
    assert sim.stats()["patches_applied"] == {f"{ORG}/{WS}/{c}": 1 for c in names}


@pytest.mark.slow
async def test_a_missing_shards_printed_command_reaches_its_campaigns_through_the_same_store(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    if redis_server_binary() is None:
        pytest.skip(MISSING)
    names = [f"s{i}" for i in range(12)]
    sim = await start_simulator(overrides=paused(names))
    key = sim.config.api_key
    sheet = write_sheet(
        tmp_path / "s.csv", [{"org_id": ORG, "workspace_id": WS, "campaign_id": c, "name": "S"}
                             for c in names],
    )  # fmt: skip
    with RedisServer(tmp_path / "redis") as server:
        redis.Redis(port=server.port).config_set("requirepass", "s3cret-pw")
        store = f"redis://:s3cret-pw@127.0.0.1:{server.port}/0"
        one = await run(
            ["bulkpatch", "run", str(sheet), "--shard", "1/2", "--rate-store", store,
             "--rate", "50", "--base-url", sim.base_url, "--api-key-env", KEY_ENV,
             "--report-dir", "r", "--json"],
            key, tmp_path,
        )  # fmt: skip
        assert one.returncode == 0, one.stderr.decode()
        merged = await run(
            ["bulkpatch", "merge", json.loads(one.stdout)["run_dir"], "--out", "m", "--json"],
            key, tmp_path,
        )  # fmt: skip
        assert b"s3cret-pw" not in merged.stdout + merged.stderr
        [step] = [s for s in json.loads(merged.stdout)["next_steps"] if "--shard" in s["command"]]
        assert "PASSWORD" in step["note"]
        argv = [w.replace("PASSWORD", "s3cret-pw") for w in shlex.split(step["command"])]
        assert argv[argv.index("--rate") + 1] == "50"

        two = await run(argv, key, tmp_path)

    assert two.returncode == 0, two.stderr.decode()
    assert sim.stats()["patches_applied"] == {f"{ORG}/{WS}/{c}": 1 for c in names}
