"""Answers no parser should be trusted with: JSON nested 100,000 deep, bodies without end.

A run meeting one gives its row an outcome (``failed``: an unreadable answer) and goes on; a
listing meeting one stops the export with a message, never a traceback."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from bulkpatch.transport.client import read_body
from support.faketime import FakeTime
from support.roundtrips import export
from support.runs import StartSimulator, campaign_rows, run_sheet, write_sheet

ORG, WS = "org-demo", "ws-demo"


async def test_a_get_answered_with_json_nested_100000_deep_fails_its_row_and_the_run_completes(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    names = ["d1", "d2", "d3"]
    sim = await start_simulator(
        deep_json_rate=1.0, overrides={(ORG, WS, c): {"status": "paused"} for c in names}
    )
    sheet = write_sheet(tmp_path / "deep.csv", campaign_rows(names, ORG, WS, name="Renamed"))

    run = await run_sheet(sheet, sim, monkeypatch, max_attempts=2, timing=fake_time.timing())

    assert run.code == 1, run.output
    assert run.run_dir is not None
    assert (run.run_dir / "summary.json").exists()
    rows = run.results()
    assert {r["outcome"] for r in rows} == {"failed"}
    for row in rows:
        assert "unreadable answer (nested deeper than 64 levels)" in row["reason"], row
    assert run.summary()["outcomes"]["failed"] == 3
    assert sim.stats()["deep_json_answers"] == 6  # two tries a row
    assert sim.stats()["patches_applied_total"] == 0

    resumed = await run_sheet(
        sheet, sim, monkeypatch, mode="resume", run_dir=run.run_dir, timing=fake_time.timing()
    )

    assert resumed.code in (0, 1), resumed.output
    assert "Traceback" not in resumed.output
    assert (run.run_dir / "results.csv").exists()
    assert (run.run_dir / "summary.json").exists()


async def test_an_export_whose_list_answers_json_nested_100000_deep_stops_with_a_message(
    tmp_path: Path,
    start_simulator: StartSimulator,
    monkeypatch: pytest.MonkeyPatch,
    fake_time: FakeTime,
) -> None:
    sim = await start_simulator(generate=5, deep_json_rate=1.0)
    out = tmp_path / "live.csv"

    done = await export(out, sim, monkeypatch, timing=fake_time.timing())

    assert done.code == 3, done.output
    assert not out.exists()
    assert "unreadable answer (nested deeper than 64 levels)" in done.output
    assert sim.stats()["deep_json_answers"] >= 1


# --- the body read: never more than the bound -----------------------------------------------


@pytest.fixture
async def long_answers() -> AsyncIterator[str]:
    """A loopback server: /sized answers 5000 bytes with a length, /chunked without one."""

    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000)

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"y" * 100)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/chunked", chunked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("path", "byte"), [("/sized", b"x"), ("/chunked", b"y")])
async def test_a_body_longer_than_the_bound_is_read_only_up_to_it_and_said_to_be_cut(
    long_answers: str, path: str, byte: bytes
) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(long_answers + path) as response:
            body, cut = await read_body(response, limit=1000)
        assert (body, cut) == (byte * 1000, True)
        async with session.get(long_answers + path) as response:
            body, cut = await read_body(response, limit=5000)
        assert (body, cut) == (byte * 5000, False)


def test_the_simulators_deep_answer_is_json_a_plain_parser_cannot_read() -> None:
    from bulkpatch.simulator.faults import DEEP_JSON

    with pytest.raises(RecursionError):
        json.loads(DEEP_JSON)
