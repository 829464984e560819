"""A password in a ``--rate-store`` URL is a secret: never printed, never stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bulkpatch.core.options import RunOptions
from support.redis_server import MISSING, RedisServer, redis_server_binary
from support.runs import StartSimulator, campaign_rows, run_sheet, write_sheet

ORG, WS = "org-a", "ws-1"
PASSWORD = "s3cret-store-pw"


@pytest.fixture
def guarded_store(tmp_path: Path) -> Iterator[RedisServer]:
    if redis_server_binary() is None:
        pytest.skip(MISSING)
    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis(host="127.0.0.1", port=server.port)
        client.config_set("requirepass", PASSWORD)
        client.close()
        yield server


def every_file_text(folder: Path) -> str:
    return "\n".join(
        p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file()
    )


def test_the_options_a_journal_keeps_hold_no_store_password_and_resuming_asks_for_it() -> None:
    url = f"redis://:{PASSWORD}@127.0.0.1:6390/0"
    kept = RunOptions(rate=10.0, rate_store=url).for_journal()
    assert PASSWORD not in str(kept)
    assert kept["rate_store"].endswith("redis://127.0.0.1:6390/0")
    with pytest.raises(Exception, match="give --rate-store again"):
        RunOptions.from_journal(kept)
    again = RunOptions.from_journal(kept, rate_store=url)
    assert again.rate_store == url
    query = RunOptions(rate=10.0, rate_store=f"redis://127.0.0.1/0?password={PASSWORD}")
    assert PASSWORD not in str(query.for_journal())
    plain = RunOptions(rate=10.0, rate_store="redis://127.0.0.1:6390/0").for_journal()
    assert RunOptions.from_journal(plain).rate_store == "redis://127.0.0.1:6390/0"


def test_a_path_given_as_text_from_python_is_a_path() -> None:
    options = RunOptions(report_dir="reports", keys_file="keys.toml")  # type: ignore[arg-type]
    assert options.report_dir == Path("reports")
    assert options.keys_file == Path("keys.toml")


async def test_a_rate_store_password_reaches_no_output_or_file_and_resume_asks_for_it_again(
    tmp_path: Path,
    guarded_store: RedisServer,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaigns = [f"p{i:02d}" for i in range(12)]
    sim = await start_simulator(overrides={(ORG, WS, c): {"status": "paused"} for c in campaigns})
    sheet = write_sheet(tmp_path / "s.csv", campaign_rows(campaigns, ORG, WS, name="Secret"))
    url = f"redis://:{PASSWORD}@127.0.0.1:{guarded_store.port}/0"
    first = await run_sheet(sheet, sim, monkeypatch, rate=100.0, rate_store=url)
    assert first.code == 0, first.output
    assert first.run_dir is not None
    assert PASSWORD not in first.output
    assert PASSWORD not in every_file_text(first.run_dir)
    assert first.summary() is not None

    refused = await run_sheet(sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir)
    assert refused.code == 2
    assert "give --rate-store again" in refused.output
    resumed = await run_sheet(
        sheet, sim, monkeypatch, mode="resume", run_dir=first.run_dir, rate_store=url
    )
    assert resumed.code == 0, resumed.output
    assert PASSWORD not in every_file_text(first.run_dir)
