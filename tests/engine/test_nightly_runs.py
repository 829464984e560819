"""Nightly runs end visibly and resumably: a rate store failing at the start, a failure before
any summary, fatal errors in a JSON log, the reasons and refused keys in notifications, a keys
file asking for no limit under a shared rate, and a refused key with campaigns left paused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio.lowlevel
import pytest

from bulkpatch.core.errors import InternalError
from bulkpatch.core.events import RowFinished
from bulkpatch.core.options import RunOptions
from bulkpatch.ops.apply import apply_sheet_async
from bulkpatch.simulator import SimulatorConfig
from support.faketime import FakeTime
from support.recording_server import closed_port_url, recording_server
from support.redis_server import MISSING, RedisServer, redis_server_binary
from support.runs import (
    StartScripted,
    StartSimulator,
    bulkpatch,
    campaign_rows,
    only_run_dir,
    run_dirs,
    run_sheet,
    write_sheet,
)

ORG, WS = "org-n", "ws-n"


def names(n: int, prefix: str = "n") -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def with_status(campaigns: list[str], status: str, org: str = ORG) -> dict[Any, dict[str, Any]]:
    return {(org, WS, c): {"status": status} for c in campaigns}


def closed_redis_url() -> str:
    return closed_port_url().replace("http://", "redis://") + "/0"


def json_lines(stderr: bytes) -> list[dict[str, Any]]:
    lines = [line for line in stderr.decode().splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line is JSON, or this fails


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip(MISSING)
    with RedisServer(tmp_path / "redis") as server:
        yield server


# -- a rate store that fails at the start ------------------------------------------------------


async def test_an_unreachable_rate_store_ends_with_reports_a_post_a_push_and_resume_takes_another(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
    redis_store: RedisServer,
) -> None:
    campaigns = names(6)
    sim = await start_simulator(overrides=with_status(campaigns, "paused"))
    sheet = write_sheet(tmp_path / "night.csv", campaign_rows(campaigns, ORG, WS, name="Night"))
    async with recording_server() as receiver, recording_server() as gateway:
        first = await run_sheet(
            sheet,
            sim,
            monkeypatch,
            timing=fake_time.timing(),
            rate=50.0,
            rate_store=closed_redis_url(),
            max_outage=1.0,
            notify_url=receiver.url + "/hook",
            pushgateway=gateway.url,
        )
        await anyio.lowlevel.checkpoint()
    assert first.code == 3, first.output
    assert sim.stats()["requests_total"] == 0  # nothing went out under an unshared rate
    rows = first.results()
    assert [r["campaign_id"] for r in rows] == campaigns
    assert {r["outcome"] for r in rows} == {"not_attempted"}
    assert all("rate store" in r["reason"] for r in rows)
    summary = first.summary()
    assert summary["exit_code"] == 3
    assert "rate store" in summary["stop_reason"]
    (posted,) = receiver.received
    assert json.loads(posted.body)["exit_code"] == 3
    (pushed,) = gateway.received
    assert b"bulkpatch_last_run_exit_code 3.0" in pushed.body

    again = await run_sheet(
        sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir, rate_store=redis_store.url
    )
    assert again.code == 0, again.output
    assert {r["outcome"] for r in again.results()} == {"updated"}


async def test_a_wrong_rate_store_password_ends_resumably_and_resume_rate_store_fixes_it(
    tmp_path: Path, start_simulator: StartSimulator, redis_store: RedisServer
) -> None:
    campaigns = names(4)
    sim = await start_simulator(overrides=with_status(campaigns, "paused"))
    sheet = write_sheet(tmp_path / "pw.csv", campaign_rows(campaigns, ORG, WS, name="Pw"))
    wrong = redis_store.url.replace("redis://", "redis://bulkpatch:wrong-password@")
    base = ("--base-url", sim.base_url, "--rate", "50")
    done = await bulkpatch(
        "run", sheet, *base, "--rate-store", wrong, "--report-dir", tmp_path / "r",
        api_key=sim.config.api_key,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr.decode()
    (run_dir,) = run_dirs(tmp_path / "r")
    assert (run_dir / "summary.json").is_file()
    assert (run_dir / "results.csv").is_file()
    assert b"wrong-password" not in done.stderr
    assert sim.stats()["requests_total"] == 0

    resumed = await bulkpatch(
        "resume", run_dir, "--rate-store", redis_store.url, api_key=sim.config.api_key
    )
    assert resumed.returncode == 0, resumed.stderr.decode()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["outcomes"]["updated"] == len(campaigns)


# -- every ending is told ----------------------------------------------------------------------


async def test_an_invalid_sheet_is_told_to_the_webhook_and_the_pushgateway_with_exit_2(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=with_status(["v1"], "paused"))
    sheet = write_sheet(
        tmp_path / "bad.csv", [{"org_id": ORG, "workspace_id": WS, "campaign_id": "v1"}]
    )  # no change at all: invalid
    async with recording_server() as receiver, recording_server() as gateway:
        done = await bulkpatch(
            "run", sheet, "--base-url", sim.base_url, "--report-dir", tmp_path / "r",
            "--notify-url", receiver.url + "/hook", "--pushgateway", gateway.url,
            api_key=sim.config.api_key,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr.decode()
    (posted,) = receiver.received
    body = json.loads(posted.body)
    assert body["exit_code"] == 2
    assert body["error"]
    assert body["run_dir"] is None  # an invalid sheet leaves no run directory
    (pushed,) = gateway.received
    assert b"bulkpatch_last_run_exit_code 2.0" in pushed.body
    assert b"bulkpatch_last_success_timestamp_seconds" not in pushed.body
    assert sim.stats()["requests_total"] == 0


async def test_endings_before_the_library_call_are_told_once_as_slack_text(
    tmp_path: Path, start_simulator: StartSimulator
) -> None:
    sim = await start_simulator(overrides=with_status(["s1"], "paused"))
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(["s1"], ORG, WS, name="S"))
    async with recording_server() as receiver:
        bad_shard = await bulkpatch(
            "run", sheet, "--base-url", sim.base_url, "--shard", "5/4",
            "--notify-url", receiver.url + "/a", "--notify-format", "slack",
            api_key=sim.config.api_key,
        )  # fmt: skip
        not_a_run = await bulkpatch(
            "resume", tmp_path, "--notify-url", receiver.url + "/b", api_key=sim.config.api_key
        )
    assert bad_shard.returncode == 2
    assert not_a_run.returncode == 2
    assert [r.path for r in receiver.received] == ["/a", "/b"]
    text = json.loads(receiver.received[0].body)["text"]
    assert "exit 2" in text
    assert "*Error*" in text
    assert "shard" in text
    assert "journal" in json.loads(receiver.received[1].body)["error"]


# -- fatal errors in a JSON log ----------------------------------------------------------------


async def test_with_log_format_json_a_fatal_error_is_one_json_line(tmp_path: Path) -> None:
    missing = await bulkpatch("run", tmp_path / "nowhere.csv", "--log-format", "json", api_key="k")
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text('[orgs.org-a]\napi_key_env = "NO_SUCH_VARIABLE_HERE"\n')
    sheet = write_sheet(tmp_path / "k.csv", campaign_rows(["k1"], "org-a", WS, name="K"))
    bad_keys = await bulkpatch(
        "run", sheet, "--keys-file", keys_file, "--log-format", "json", api_key="k"
    )
    for done, words in ((missing, "nowhere.csv"), (bad_keys, "NO_SUCH_VARIABLE_HERE")):
        assert done.returncode == 2
        events = json_lines(done.stderr)
        errors = [e for e in events if e["event"] == "error"]
        assert len(errors) == 1, events
        assert errors[0]["exit_code"] == 2
        assert words in errors[0]["message"]


# -- the reasons and the refused org in a notification ----------------------------------------


async def test_a_slack_notification_of_a_real_run_names_its_top_reasons(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    active, ended = names(3, "a"), names(2, "e")
    sim = await start_simulator(
        overrides={
            **with_status(names(4, "p"), "paused"),
            **with_status(active, "active"),
            **with_status(ended, "ended"),
        }
    )
    sheet = write_sheet(
        tmp_path / "mix.csv", campaign_rows(names(4, "p") + active + ended, ORG, WS, name="Mix")
    )
    async with recording_server() as receiver:
        run = await run_sheet(
            sheet, sim, monkeypatch, notify_url=receiver.url + "/hook", notify_format="slack"
        )
        await anyio.lowlevel.checkpoint()
    assert run.code == 1
    text = json.loads(receiver.received[0].body)["text"]
    assert "*Top reasons*" in text
    reasons = text.split("*Top reasons*", 1)[1]
    assert reasons.index("campaign is active") < reasons.index("campaign ended or cancelled")
    assert "×3" in reasons
    assert "×2" in reasons
    assert "--pause-active" in reasons
    top = run.summary()["top_reasons"]
    assert [(t["rows"], t["reason"]) for t in top] == [
        (3, "campaign is active"),
        (2, "campaign ended or cancelled"),
    ]


async def test_a_notification_names_the_org_whose_key_was_refused(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = {"org-a": "key-A-secret-0001", "org-b": "key-B-secret-0002"}
    orgs = {org: names(6, org[-1]) for org in keys}
    sim = await start_simulator(
        SimulatorConfig(
            api_key=keys["org-a"],
            extra_api_keys=(keys["org-b"],),
            key_orgs={key: {org} for org, key in keys.items()},
            revoke_keys_after={keys["org-b"]: 2},
            overrides={(o, WS, c): {"status": "paused"} for o, cs in orgs.items() for c in cs},
        )
    )
    for org, key in keys.items():
        monkeypatch.setenv(f"KEY_{org[-1].upper()}", key)
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(
        "\n".join(f'[orgs.{org}]\napi_key_env = "KEY_{org[-1].upper()}"\n' for org in keys)
    )
    rows = [row for org, cs in orgs.items() for row in campaign_rows(cs, org, WS, name="K")]
    async with recording_server() as receiver:
        run = await run_sheet(
            write_sheet(tmp_path / "keys.csv", rows),
            sim,
            monkeypatch,
            keys_file=keys_file,
            concurrency=1,
            notify_url=receiver.url + "/hook",
            notify_format="slack",
        )
        await anyio.lowlevel.checkpoint()
    assert run.code == 3
    text = json.loads(receiver.received[0].body)["text"]
    refused = [line for line in text.splitlines() if "Key refused" in line]
    assert len(refused) == 1
    assert "org-b" in refused[0]
    assert "the run stopped before them" in text
    for key in keys.values():
        assert key not in text


# -- a keys file asking for no limit under a shared rate --------------------------------------


async def test_a_keys_file_rate_unlimited_with_a_rate_store_is_a_usage_error_before_a_run_dir(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=with_status(["u1"], "paused"))
    keys_file = tmp_path / "keys.toml"
    keys_file.write_text(f'[orgs.{ORG}]\napi_key_env = "KEY_U"\nrate = "unlimited"\n')
    sheet = write_sheet(tmp_path / "u.csv", campaign_rows(["u1"], ORG, WS, name="U"))
    monkeypatch.setenv("KEY_U", sim.config.api_key)
    run = await run_sheet(
        sheet,
        sim,
        monkeypatch,
        keys_file=keys_file,
        rate=10.0,
        rate_store=closed_redis_url(),
        report_dir=tmp_path / "r",
    )
    assert run.code == 2, run.output
    assert "unlimited" in run.output
    assert ORG in run.output
    assert "internal error" not in run.output
    assert run_dirs(tmp_path / "r") == []
    assert sim.stats()["requests_total"] == 0


# -- a refused key with campaigns left paused --------------------------------------------------


async def test_a_refused_key_reports_the_campaigns_it_left_paused_at_once(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    sim = await start_simulator(
        SimulatorConfig(
            api_key="key-P-secret-0001",
            revoke_keys_after={"key-P-secret-0001": 2},  # the GET and the pause go through
            overrides=with_status(["live"], "active"),
        )
    )
    sheet = write_sheet(tmp_path / "p.csv", campaign_rows(["live"], ORG, WS, name="Live"))
    run = await run_sheet(
        sheet,
        sim,
        monkeypatch,
        timing=fake_time.timing(),
        pause_active=True,
        max_outage=15.0,
    )
    assert run.code == 3, run.output
    left = run.summary()["campaigns_left_paused"]
    assert list(left) == [f"{ORG}/{WS}/live"]
    assert "refused" in left[f"{ORG}/{WS}/live"]
    assert left[f"{ORG}/{WS}/live"].count("HTTP 401") == 1
    assert sim.state.status_of((ORG, WS, "live")) == "paused"
    assert fake_time.elapsed < 5.0  # not the --max-outage of 15 s spent "trying to resume"
    assert "trying to resume" not in run.output
    assert "the API key" in run.output
    assert "stay paused" in run.output


async def test_a_bug_is_told_as_exit_70_by_its_kind_only(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await start_simulator(overrides=with_status(["b1"], "paused"))
    sheet = write_sheet(tmp_path / "bug.csv", campaign_rows(["b1"], ORG, WS, name="B"))
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)

    def broken_sink(event: object) -> None:
        if isinstance(event, RowFinished):
            raise RuntimeError("text of a bug, which may hold anything")

    async with recording_server() as receiver:
        with pytest.raises(InternalError):
            await apply_sheet_async(
                sheet,
                options=RunOptions(
                    base_url=sim.base_url,
                    report_dir=tmp_path / "r",
                    notify_url=receiver.url + "/hook",
                ),
                on_event=broken_sink,
            )
    (posted,) = receiver.received
    body = json.loads(posted.body)
    assert body["exit_code"] == 70
    assert body["error"] == "internal error (RuntimeError); please report it"
    assert body["run_dir"] == str(only_run_dir(tmp_path / "r"))


async def test_a_key_refused_while_resuming_what_it_left_paused_gives_up_at_once(
    tmp_path: Path,
    start_scripted: StartScripted,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    statuses = 0

    def decide(method: str, path: str, nth: int, total: int) -> Any:
        nonlocal statuses
        if method == "PUT" and path.endswith("/status"):
            statuses += 1
            if statuses == 2:  # the first resume: refused, so the campaign stays paused
                return (409, "the org already has a live campaign")
            if statuses > 2:  # then the key is revoked, while bulkpatch tries again
                return (401, "API key has been revoked")
        return None

    sim = await start_scripted(decide, overrides=with_status(["live"], "active"))
    sheet = write_sheet(tmp_path / "r.csv", campaign_rows(["live"], ORG, WS, name="Live"))
    run = await run_sheet(
        sheet, sim, monkeypatch, timing=fake_time.timing(), pause_active=True, max_outage=15.0
    )
    assert run.code == 3, run.output
    left = run.summary()["campaigns_left_paused"]
    assert "HTTP 401" in left[f"{ORG}/{WS}/live"]
    assert statuses == 3  # one try after the 409, none after the 401
    assert fake_time.elapsed < 5.0  # not the --max-outage of 15 s
