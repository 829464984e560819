"""Runs larger than one key or one process: keys per org, shards and their merge, a rate shared
through Redis, and telling others how a run went (issue: nightly jobs and runs across pods)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from bulkpatch.core.errors import UsageError
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.shards import Shard, parse_shard, shard_of
from bulkpatch.ops.merge import merge_run_dirs
from bulkpatch.simulator import SimulatorConfig
from support.recording_server import closed_port_url, recording_server
from support.redis_server import MISSING, RedisServer, redis_server_binary
from support.runs import StartSimulator, bulkpatch, campaign_rows, run_dirs, run_sheet, write_sheet
from support.scripted import scripted_simulator

ORG, WS = "org-s", "ws-s"


def names(n: int, prefix: str = "s") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def paused(orgs_campaigns: dict[str, list[str]]) -> dict[Any, dict[str, Any]]:
    return {
        (org, WS, c): {"status": "paused", "app_config.app_version": 1}
        for org, campaigns in orgs_campaigns.items()
        for c in campaigns
    }


def results(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "results.csv").open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def every_file_text(folder: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()
    )


# -- shards ----------------------------------------------------------------------------------


def test_a_shard_is_k_of_n_with_k_from_1_and_the_hash_is_stable() -> None:
    assert parse_shard("2/4") == Shard(2, 4)
    for bad in ("0/4", "5/4", "2", "a/b", "1/0"):
        with pytest.raises(UsageError):
            parse_shard(bad)
    key = CampaignKey("org-a", "ws-b", "cmp-000001")
    # SHA-256 of "org-a/ws-b/cmp-000001", first 8 bytes big-endian, mod 4, plus 1: fixed forever.
    assert shard_of(key, 4) == shard_of(CampaignKey("org-a", "ws-b", "cmp-000001"), 4)
    spread = [shard_of(CampaignKey("o", "w", f"c{i}"), 4) for i in range(400)]
    assert {spread.count(k) for k in (1, 2, 3, 4)} == {n for n in map(spread.count, (1, 2, 3, 4))}
    assert all(60 < spread.count(k) < 140 for k in (1, 2, 3, 4))


async def test_merging_four_shards_equals_a_single_run_of_the_sheet(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(60)
    overrides = paused({ORG: campaigns})
    for c in campaigns[::7]:
        overrides[(ORG, WS, c)]["status"] = "ended"
    rows = campaign_rows(campaigns, ORG, WS, **{"app_config.app_version": "5"})
    sheet = write_sheet(tmp_path / "sharded.csv", rows)

    sharded = await start_simulator(overrides=overrides)
    shard_dirs = []
    for k in range(1, 5):
        run = await run_sheet(
            sheet, sharded, monkeypatch, shard=f"{k}/4", report_dir=tmp_path / "shards"
        )
        assert run.run_dir is not None
        assert run.run_dir.name.endswith(f"-shard-{k}-of-4")
        assert run.summary()["shard"] == f"{k}/4"
        shard_dirs.append(run.run_dir)
    assert sharded.stats()["max_patches_per_campaign"] == 1
    data, warnings = merge_run_dirs(shard_dirs, tmp_path / "merged")
    assert warnings == []

    single_sim = await start_simulator(overrides=overrides)
    single = await run_sheet(sheet, single_sim, monkeypatch, report_dir=tmp_path / "single")
    key = ("row", "campaign_id", "outcome", "reason", "changed_fields")
    merged_rows = [tuple(r[k] for k in key) for r in results(tmp_path / "merged")]
    single_rows = [tuple(r[k] for k in key) for r in single.results()]
    assert merged_rows == single_rows
    assert data["outcomes"] == single.summary()["outcomes"]
    assert data["exit_code"] == single.code == 1  # the ended ones are skipped
    retry = (tmp_path / "merged" / "retry.csv").read_text().splitlines()
    assert len(retry) == 1 + data["outcomes"]["skipped"]


async def test_merge_refuses_other_sheets_and_a_shard_given_twice_and_names_a_missing_one(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=paused({ORG: names(8)}))
    one = write_sheet(tmp_path / "one.csv", campaign_rows(names(8), ORG, WS, name="One"))
    two = write_sheet(tmp_path / "two.csv", campaign_rows(names(8), ORG, WS, name="Two"))
    a = await run_sheet(one, sim, monkeypatch, shard="1/2", report_dir=tmp_path / "r")
    b = await run_sheet(two, sim, monkeypatch, shard="2/2", report_dir=tmp_path / "r")
    assert a.run_dir is not None
    assert b.run_dir is not None
    with pytest.raises(UsageError, match="different sheets"):
        merge_run_dirs([a.run_dir, b.run_dir], tmp_path / "m1")
    with pytest.raises(UsageError, match="both shard 1/2"):
        merge_run_dirs([a.run_dir, a.run_dir], tmp_path / "m2")
    _, warnings = merge_run_dirs([a.run_dir], tmp_path / "m3")
    assert warnings
    assert "2/2" in warnings[0]


async def test_shards_from_the_completion_index_name_their_run_directory(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=paused({ORG: names(6)}))
    sheet = write_sheet(tmp_path / "idx.csv", campaign_rows(names(6), ORG, WS, name="Indexed"))
    env_before = os.environ.get("JOB_COMPLETION_INDEX")
    os.environ["JOB_COMPLETION_INDEX"] = "2"
    try:
        done = await bulkpatch(
            "run",
            sheet,
            "--shards",
            "3",
            "--base-url",
            sim.base_url,
            "--rate",
            "unlimited",
            "--report-dir",
            tmp_path / "r",
            "--quiet",
            api_key=sim.config.api_key,
        )
    finally:
        if env_before is None:
            os.environ.pop("JOB_COMPLETION_INDEX", None)
        else:
            os.environ["JOB_COMPLETION_INDEX"] = env_before
    assert done.returncode in (0, 1), done.stderr.decode()
    (run_dir,) = run_dirs(tmp_path / "r")
    assert run_dir.name.endswith("-shard-3-of-3")
    shard = Shard(3, 3)
    expected = [c for c in names(6) if shard.holds(CampaignKey(ORG, WS, c))]
    assert [r["campaign_id"] for r in results(run_dir)] == expected


# -- keys per org ------------------------------------------------------------------------------


async def test_one_revoked_key_of_three_stops_only_its_org_and_the_run_exits_3(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    orgs = {"org-a": names(12, "a"), "org-b": names(12, "b"), "org-c": names(12, "c")}
    keys = {
        "org-a": "key-A-secret-0001",
        "org-b": "key-B-secret-0002",
        "org-c": "key-C-secret-0003",
    }
    sim = await start_simulator(
        SimulatorConfig(
            api_key=keys["org-a"],
            extra_api_keys=(keys["org-b"], keys["org-c"]),
            key_orgs={key: {org} for org, key in keys.items()},
            revoke_keys_after={keys["org-b"]: 5},  # revoked mid-run, after 5 of its requests
            overrides={(org, WS, c): {"status": "paused"} for org, cs in orgs.items() for c in cs},
        )
    )
    for org, key in keys.items():
        monkeypatch.setenv(f"KEY_{org[-1].upper()}", key)
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(
        "\n".join(f'[orgs.{org}]\napi_key_env = "KEY_{org[-1].upper()}"\n' for org in keys)
    )
    rows = [row for org, cs in orgs.items() for row in campaign_rows(cs, org, WS, name="Keyed")]
    sheet = write_sheet(tmp_path / "orgs.csv", rows)
    run = await run_sheet(sheet, sim, monkeypatch, keys_file=keys_file, concurrency=2)

    assert run.code == 3
    outcomes = run.results()
    by_org: dict[str, set[str]] = {}
    for r in outcomes:
        by_org.setdefault(r["org_id"], set()).add(r["outcome"])
    assert by_org["org-a"] == {"updated"}
    assert by_org["org-c"] == {"updated"}
    assert "not_attempted" in by_org["org-b"]
    refused = [r for r in outcomes if r["org_id"] == "org-b" and r["outcome"] == "not_attempted"]
    assert all("org-b" in r["reason"] for r in refused), refused  # every row names the org
    assert "the key for org org-b" in json.dumps(run.summary()["keys_refused"])
    assert run.run_dir is not None
    text = every_file_text(run.run_dir) + run.output
    for key in keys.values():
        assert key not in text


async def test_an_org_without_a_key_in_the_keys_file_stops_the_run_before_sending(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=paused({"org-a": ["a1"], "org-z": ["z1"]}))
    monkeypatch.setenv("KEY_A", sim.config.api_key)
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text('[orgs.org-a]\napi_key_env = "KEY_A"\n')
    rows = [
        *campaign_rows(["a1"], "org-a", WS, name="A"),
        *campaign_rows(["z1"], "org-z", WS, name="Z"),
    ]
    run = await run_sheet(
        write_sheet(tmp_path / "s.csv", rows), sim, monkeypatch, keys_file=keys_file
    )
    assert run.code == 2
    assert "org-z" in run.output
    assert sim.stats()["requests_total"] == 0


# -- a rate shared through Redis ---------------------------------------------------------------


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip(MISSING)
    with RedisServer(tmp_path / "redis") as server:
        yield server


async def test_redis_killed_mid_run_stops_the_run_resumably_and_resume_completes_it(
    tmp_path: Path, redis_store: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns = names(40)

    def decide(method: str, path: str, nth: int, total: int) -> Any:
        if total == 15:
            redis_store.kill()  # the store goes away in the middle of the run
        return None

    config = SimulatorConfig(seed=3, overrides=paused({ORG: campaigns}))
    sheet = write_sheet(tmp_path / "r.csv", campaign_rows(campaigns, ORG, WS, name="Shared"))
    async with scripted_simulator(config, decide) as sim:
        first = await run_sheet(
            sheet,
            sim,
            monkeypatch,
            rate=200.0,
            rate_store=redis_store.url,
            max_outage=0.5,  # real time: the run waits that long for the store, then stops
            concurrency=2,
        )
        assert first.code == 3
        outcomes = {r["outcome"] for r in first.results()}
        assert outcomes <= {"updated", "not_attempted"}
        assert "not_attempted" in outcomes
        assert len(first.results()) == len(campaigns)  # no row lost
        redis_store.start()  # back, on the same port
        sim.script.decide = lambda *_: None
        again = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)
        assert again.code == 0, again.output
        assert {r["outcome"] for r in again.results()} == {"updated"}
        assert sim.stats()["max_patches_per_campaign"] == 1


async def test_rate_store_with_an_unlimited_rate_is_a_usage_error(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=paused({ORG: ["u1"]}))
    sheet = write_sheet(tmp_path / "u.csv", campaign_rows(["u1"], ORG, WS, name="U"))
    done = await bulkpatch(
        "run",
        sheet,
        "--base-url",
        sim.base_url,
        "--rate",
        "unlimited",
        "--rate-store",
        "redis://127.0.0.1:9/0",
        "--report-dir",
        tmp_path / "r",
        api_key=sim.config.api_key,
    )
    assert done.returncode == 2
    assert b"--rate-store" in done.stderr


# -- telling others ----------------------------------------------------------------------------


async def test_notify_url_gets_exactly_one_post_with_the_summary(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=paused({ORG: names(5)}))
    sheet = write_sheet(tmp_path / "n.csv", campaign_rows(names(5), ORG, WS, name="Notified"))
    async with recording_server() as receiver:
        run = await run_sheet(sheet, sim, monkeypatch, notify_url=receiver.url + "/hook")
        await anyio.lowlevel.checkpoint()
    assert run.code == 0
    assert len(receiver.received) == 1
    posted = json.loads(receiver.received[0].body)
    assert posted["outcomes"]["updated"] == 5
    assert posted["run_dir"] == str(run.run_dir)
    assert run.run_dir is not None
    assert receiver.url not in every_file_text(run.run_dir)  # the webhook is a secret


async def test_a_dead_notify_url_is_reported_and_does_not_change_the_exit_code(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=paused({ORG: names(3)}))
    sheet = write_sheet(tmp_path / "d.csv", campaign_rows(names(3), ORG, WS, name="Dead"))
    run = await run_sheet(sheet, sim, monkeypatch, notify_url=closed_port_url())
    assert run.code == 0
    assert "could not notify" in run.output


async def test_a_pushgateway_receives_the_runs_gauges(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=paused({ORG: names(4)}))
    sheet = write_sheet(tmp_path / "p.csv", campaign_rows(names(4), ORG, WS, name="Pushed"))
    async with recording_server() as gateway:
        run = await run_sheet(sheet, sim, monkeypatch, pushgateway=gateway.url, shard="1/1")
    assert run.code == 0
    (pushed,) = gateway.received
    assert pushed.path.startswith("/metrics/job/bulkpatch/shard")
    assert b'bulkpatch_last_run_rows{outcome="updated"} 4.0' in pushed.body
