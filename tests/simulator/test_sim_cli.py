"""``bulkpatch simulate``: serves in its own process, prints how to use it, stops cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from bulkpatch.cli import cli
from bulkpatch.cli import simulate as simulate_module  # noqa: F401 - registers the command


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
