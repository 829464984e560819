"""``bulkpatch simulate``: serves in its own process, prints how to use it, stops cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner, Result

from bulkpatch.cli import cli
from bulkpatch.cli import simulate as simulate_module
from bulkpatch.simulator import SimulatorConfig


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bulkpatch",
        "simulate",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(30):
            while not lines or not lines[-1].startswith("Press Ctrl-C"):
                line = await process.stdout.readline()
                assert line, "the simulator exited before it was ready"
                lines.append(line.decode().rstrip())
    except BaseException:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    return process, lines


async def _stop(process: asyncio.subprocess.Process, sig: int) -> tuple[int, str]:
    process.send_signal(sig)
    async with asyncio.timeout(15):
        _, stderr = await process.communicate()
    return process.returncode or 0, stderr.decode()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_simulate_serves_a_sheets_campaigns_until_a_signal_and_stops_cleanly(
    tmp_path: Path, sig: int
) -> None:
    sheet = tmp_path / "changes.csv"
    sheet.write_text("campaign_id,name\ncmp-a,One\ncmp-b,Two\n", encoding="utf-8")
    process, lines = await _start("--campaigns", str(sheet), "--org", "org-t", "--seed", "4")
    try:
        banner = "\n".join(lines)
        base_url = re.search(r"base URL: (\S+)", banner)
        assert base_url is not None, banner
        assert f"SARVAM_API_KEY=sim-key bulkpatch run {sheet}" in banner
        assert f"--base-url {base_url[1]}" in banner
        url = f"{base_url[1]}/v1/orgs/org-t/workspaces/ws-demo/campaigns/cmp-b"
        async with (
            aiohttp.ClientSession() as session,
            session.get(url, headers={"X-API-Key": "sim-key"}) as response,
        ):
            assert response.status == 200
            assert (await response.json())["campaign_id"] == "cmp-b"
    finally:
        code, stderr = await _stop(process, sig)
    assert code == 0
    assert "Traceback" not in stderr
    assert "Simulator stopped." in stderr


async def test_simulate_does_not_echo_a_key_of_its_users_choosing() -> None:
    process, lines = await _start("--generate", "2", "--api-key", "my-own-fake-key")
    await _stop(process, signal.SIGTERM)
    banner = "\n".join(lines)
    assert "my-own-fake-key" not in banner
    assert "SARVAM_API_KEY=<your --api-key>" in banner


def test_simulate_refuses_a_host_that_is_not_loopback() -> None:
    result = CliRunner().invoke(cli, ["simulate", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--allow-remote" in result.output


def test_simulate_refuses_both_a_sheet_and_a_generated_population(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.csv"
    sheet.write_text("campaign_id\nc\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", "--campaigns", str(sheet), "--generate", "3"])
    assert result.exit_code == 2
    assert "not both" in result.output


@pytest.mark.parametrize("value", ["10", "a:b", "5:0", "-1:3"])
def test_simulate_refuses_a_malformed_outage(value: str) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--outage", value])
    assert result.exit_code == 2
    assert "--outage" in result.output


def test_simulate_refuses_a_sheet_without_campaign_ids(tmp_path: Path) -> None:
    sheet = tmp_path / "changes.csv"
    sheet.write_text("name\nx\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["simulate", "--campaigns", str(sheet)])
    assert result.exit_code == 2
    assert "campaign_id" in result.output


# --- fault and shape flags -----------------------------------------------------------------------

EXTRA_KEY = "fake-extra-key-7f3"


def _config_from(monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[Result, Any]:
    """Run ``simulate ARGS`` without serving; return the result and the config it built."""
    seen: list[Any] = []

    async def capture(config: Any, *rest: Any) -> None:
        seen.append(config)

    monkeypatch.setattr(simulate_module, "_serve", capture)
    result = CliRunner().invoke(cli, ["simulate", *args])
    return result, seen[0] if seen else None


def test_every_fault_and_shape_flag_reaches_the_simulator_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, config = _config_from(
        monkeypatch,
        *("--fail-after-store-rate", "0.25"),
        *("--forbid", "cmp-1,cmp-2", "--forbid", "cmp-3"),
        *("--redirect-to", "https://moved.example.invalid", "--redirect-status", "308"),
        *("--wrong-id-rate", "0.1"),
        *("--deep-json-rate", "0.2"),
        *("--patch-answer-differs-rate", "0.2"),
        "--hostile-text",
        *("--error-body-bytes", "5000000"),
        *("--error-shape", "alternate"),
        *("--not-editable-status", "422"),
        *("--extra-api-key", EXTRA_KEY, "--extra-api-key", "fake-other-key"),
        *("--key-orgs", f"{EXTRA_KEY}=org-a,org-b", "--key-orgs", "sim-key=org-c"),
        *("--revoke-key-after", f"{EXTRA_KEY}=40"),
        *("--list-shape", "bare"),
        *("--next-page-uri", "none"),
    )
    assert result.exit_code == 0, result.output
    assert config.fail_after_store_rate == 0.25
    assert tuple(config.forbid) == ("cmp-1", "cmp-2", "cmp-3")
    assert (config.redirect_to, config.redirect_status) == ("https://moved.example.invalid", 308)
    assert config.wrong_id_rate == 0.1
    assert config.deep_json_rate == 0.2
    assert config.patch_answer_differs_rate == 0.2
    assert config.hostile_text is True
    assert config.error_body_bytes == 5_000_000
    assert (config.error_shape, config.not_editable_status) == ("alternate", 422)
    assert config.extra_api_keys == (EXTRA_KEY, "fake-other-key")
    assert config.key_orgs == {EXTRA_KEY: ("org-a", "org-b"), "sim-key": ("org-c",)}
    assert config.revoke_keys_after == {EXTRA_KEY: 40}
    assert (config.list_shape, config.next_page_uri) == ("bare", "none")


def test_without_flags_every_new_fault_is_off_and_the_shapes_are_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, config = _config_from(monkeypatch)
    assert result.exit_code == 0, result.output
    assert config == SimulatorConfig(generate=100)


def test_simulate_help_documents_every_fault_and_shape_flag() -> None:
    text = CliRunner().invoke(cli, ["simulate", "--help"], terminal_width=200).output
    for flag in (
        "--fail-after-store-rate",
        "--forbid",
        "--redirect-to",
        "--redirect-status",
        "--wrong-id-rate",
        "--deep-json-rate",
        "--patch-answer-differs-rate",
        "--hostile-text",
        "--error-body-bytes",
        "--error-shape",
        "--not-editable-status",
        "--extra-api-key",
        "--key-orgs",
        "--revoke-key-after",
        "--list-shape",
        "--next-page-uri",
        "/_sim/revoke",
    ):
        assert flag in text, flag


@pytest.mark.parametrize(
    "args",
    [
        ("--key-orgs", EXTRA_KEY),
        ("--key-orgs", f"{EXTRA_KEY}="),
        ("--revoke-key-after", f"{EXTRA_KEY}=soon"),
        ("--key-orgs", f"{EXTRA_KEY}=org-a"),  # a key the simulator does not accept
        ("--revoke-key-after", f"{EXTRA_KEY}=3"),
    ],
)
def test_simulate_refuses_a_malformed_key_flag_without_echoing_the_key(
    args: tuple[str, ...],
) -> None:
    result = CliRunner().invoke(cli, ["simulate", *args])
    assert result.exit_code == 2
    assert EXTRA_KEY not in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("--redirect-to", "moved.example.invalid"),
        ("--redirect-status", "303"),
        ("--error-shape", "xml"),
        ("--list-shape", "rows"),
        ("--not-editable-status", "418"),
        ("--wrong-id-rate", "2"),
    ],
)
def test_simulate_refuses_a_fault_or_shape_out_of_range(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, ["simulate", *args])
    assert result.exit_code == 2
    assert args[0].lstrip("-").replace("-", "_") in result.output.replace("-", "_")


async def test_simulate_serves_the_faults_its_flags_ask_for() -> None:
    process, lines = await _start(
        *("--generate", "4", "--seed", "3"),
        *("--forbid", "cmp-000002,cmp-000003"),
        *("--extra-api-key", EXTRA_KEY, "--key-orgs", f"{EXTRA_KEY}=org-other"),
        *("--list-shape", "bare", "--hostile-text"),
    )
    try:
        banner = "\n".join(lines)
        assert EXTRA_KEY not in banner
        assert "2 campaigns forbidden (403)" in banner
        assert "hostile text" in banner
        assert "list shape bare" in banner
        base_url = re.search(r"base URL: (\S+)", banner)
        root_url = re.search(r"stats:\s+(\S+)/_sim/stats", banner)
        assert base_url is not None
        assert root_url is not None
        workspace = f"{base_url[1]}/v1/orgs/org-demo/workspaces/ws-demo"
        statuses: dict[str, int] = {}
        async with aiohttp.ClientSession(headers={"X-API-Key": "sim-key"}) as session:
            for cid in ("cmp-000001", "cmp-000002", "cmp-000003"):
                async with session.get(f"{workspace}/campaigns/{cid}") as response:
                    statuses[cid] = response.status
                    if response.status == 403:
                        message = (await response.json())["detail"]
            async with session.get(f"{workspace}/campaigns") as response:
                listed = await response.json()
            other_key = {"X-API-Key": EXTRA_KEY}
            async with session.get(f"{workspace}/campaigns/cmp-000001", headers=other_key) as r:
                statuses["other key"] = r.status
            async with session.get(f"{root_url[1]}/_sim/stats") as response:
                stats = await response.json()
    finally:
        await _stop(process, signal.SIGTERM)
    assert statuses == {"cmp-000001": 200, "cmp-000002": 403, "cmp-000003": 403, "other key": 403}
    assert message.startswith(('=HYPERLINK("https://example.invalid","x")', "+", "-", "@"))
    assert isinstance(listed, list)
    assert len(listed) == 4
    assert (stats["forbidden"], stats["outside_key_orgs"]) == (2, 1)
