"""report.html's model: built from a journal's records, without files."""

from __future__ import annotations

import stat
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.errors import UsageError
from bulkpatch.html import runreport
from bulkpatch.html.kit import NO_OUTCOME
from bulkpatch.html.reportfile import write_run_report
from bulkpatch.html.runreport import build_run_report
from bulkpatch.html.samples import MAX_POINTS
from bulkpatch.rundir.journal import iter_records
from support.html_audit import external_references
from support.html_samples import T0, faulty_run
from support.runs import StartSimulator, run_sheet, write_sheet


def start(rows: int = 3, t: float = T0, **options: Any) -> dict[str, Any]:
    return {
        "e": "start",
        "t": t,
        "version": "0.2.0",
        "sheet": "/s.csv",
        "sha256": "ab" * 32,
        "rows": rows,
        "options": {"rate": 10.0, **options},
    }


def done(row: int, outcome: str, t: float = T0, reason: str = "", **more: Any) -> dict[str, Any]:
    return {
        "e": "done",
        "t": t,
        "row": row,
        "org_id": "o",
        "workspace_id": "w",
        "campaign_id": f"c{row}",
        "outcome": outcome,
        "reason": reason,
        "http_status": None,
        "attempts": 1,
        **more,
    }


def tick(t: float, started: int = 10, **statuses: int) -> dict[str, Any]:
    by_status = {"200": started, **{k.removeprefix("s"): v for k, v in statuses.items()}}
    return {
        "e": "tick",
        "t": t,
        "dt": 1.0,
        "started": started,
        "by_status": by_status,
        "lat_ms": [10.0, 20.0, 40.0],
        "target": 10.0,
        "breaker_open": False,
    }


def end(code: int, t: float = T0) -> dict[str, Any]:
    return {"e": "end", "t": t, "exit_code": code}


def test_the_last_done_line_of_a_row_is_its_outcome_and_a_row_fixed_later_is_no_failure() -> None:
    report = build_run_report(
        [
            start(rows=3),
            done(1, "failed", reason="503"),
            done(2, "updated"),
            done(3, "rejected", reason="422: bad end time"),
            end(3),
            {"e": "resume", "t": T0 + 60, "rows": 3},
            done(1, "updated"),
            end(1, T0 + 70),
        ],
        None,
    )
    assert report.outcomes == {"updated": 2, "rejected": 1}
    assert [f.row for f in report.failures] == [3]
    assert report.failures[0].campaign == "o/w/c3"
    assert report.failures[0].reason == "422: bad end time"
    assert report.failures_total == 1
    assert report.finished
    assert report.exit_code == 1


def test_each_start_and_resume_opens_a_session_that_its_end_closes() -> None:
    report = build_run_report(
        [
            start(rows=4),
            done(1, "updated", T0 + 1),
            done(2, "failed", T0 + 2),
            end(3, T0 + 3),
            {"e": "resume", "t": T0 + 100, "rows": 4},  # an older journal: no options
            done(2, "updated", T0 + 101),
            done(3, "updated", T0 + 102),
            done(4, "skipped", T0 + 103),
            end(1, T0 + 104),
        ],
        None,
    )
    first, second = report.sessions
    assert (first.number, first.kind, first.started, first.ended, first.exit_code) == (
        1,
        "start",
        T0,
        T0 + 3,
        3,
    )
    assert (first.rows_done, first.rows_ok) == (2, 1)
    assert (second.kind, second.started, second.ended, second.exit_code) == (
        "resume",
        T0 + 100,
        T0 + 104,
        1,
    )
    assert (second.rows_done, second.rows_ok) == (3, 2)
    assert second.options is None
    assert report.options == {"rate": 10.0}


def test_ticks_with_429s_and_5xx_mark_their_seconds_and_add_up_per_session() -> None:
    report = build_run_report(
        [
            start(),
            tick(T0 + 1, 10),
            tick(T0 + 2, 12, s429=3),
            tick(T0 + 3, 8, s503=2, s502=1),
            tick(T0 + 4, 4, snone=2),
            tick(T0 + 5, 0, sno_answer=1),  # the name summary.json uses
            end(1, T0 + 6),
        ],
        None,
    )
    traffic = report.traffic
    assert traffic.samples == 5
    assert traffic.requests == 34
    assert traffic.by_status == {"200": 34, "429": 3, "502": 1, "503": 2, "none": 3}
    assert (traffic.seconds_throttled, traffic.seconds_server_error) == (1, 1)
    assert traffic.seconds_no_answer == 2
    assert [p.throttled for p in traffic.rate] == [False, True, False, False, False]
    assert [p.server_error for p in traffic.rate] == [False, False, True, False, False]
    assert [p.rate for p in traffic.rate] == [10, 12, 8, 4, 0]
    assert [(p.x0, p.x1) for p in traffic.rate] == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert traffic.peak_rate == 12
    session = report.sessions[0]
    assert (session.requests, session.throttled, session.server_errors) == (34, 3, 3)


def test_a_second_with_no_latency_or_no_target_has_none_there() -> None:
    quiet = {**tick(T0 + 2, 0), "lat_ms": None, "target": None, "breaker_open": True}
    report = build_run_report([start(), tick(T0 + 1), quiet, tick(T0 + 3)], None)
    busy, idle, _ = report.traffic.latency
    assert (busy.p50, busy.p95, busy.p99) == (10.0, 20.0, 40.0)
    assert (idle.p50, idle.p95, idle.p99) == (None, None, None)
    # a sample's target is drawn from the next second on: it is the rate at the second's end
    assert [p.target for p in report.traffic.rate] == [10.0, 10.0, None]
    assert [p.breaker_open for p in report.traffic.rate] == [False, True, False]
    assert report.traffic.seconds_breaker_open == 1


def test_sessions_are_laid_end_to_end_on_the_time_axis() -> None:
    records = [start(), *(tick(T0 + s) for s in range(1, 11)), end(3, T0 + 11)]
    records += [{"e": "resume", "t": T0 + 3600, "rows": 3}]
    records += [tick(T0 + 3600 + s) for s in range(1, 6)]
    traffic = build_run_report(records, None).traffic
    assert traffic.session_marks == ((1, 0.0), (2, 10.0))
    assert traffic.x_max == 15.0
    assert traffic.rate[10].x0 == 10.0


def test_a_long_run_folds_its_seconds_into_at_most_max_points_and_keeps_every_mark() -> None:
    seconds = 5000
    records = [start()] + [
        tick(T0 + s, 5, s429=1) if s == 4321 else tick(T0 + s, 5) for s in range(1, seconds + 1)
    ]
    traffic = build_run_report(records, None).traffic
    assert len(traffic.rate) <= MAX_POINTS
    assert traffic.seconds_per_point == 16  # 5000 s / 600 points, rounded up to a power of two
    assert traffic.requests == 5 * seconds
    assert sum(p.rate * (p.x1 - p.x0) for p in traffic.rate) == pytest.approx(5 * seconds)
    marked = [p for p in traffic.rate if p.throttled]
    assert len(marked) == 1
    assert marked[0].x0 <= 4320.5 <= marked[0].x1


def test_a_crashed_run_without_end_or_summary_shows_the_rows_it_has_no_outcome_for() -> None:
    report = build_run_report(
        [start(rows=10), tick(T0 + 1), done(1, "updated"), done(2, "failed"), done(3, "updated")],
        None,
    )
    assert not report.finished
    assert report.exit_code is None
    assert report.outcomes == {"updated": 2, "failed": 1, NO_OUTCOME: 7}
    assert report.sessions[0].ended is None
    assert report.sessions[0].last_seen == T0
    assert report.summary is None
    assert not report.summary_stale


def test_a_finished_run_counts_rows_without_a_done_line_as_not_attempted() -> None:
    report = build_run_report([start(rows=5), done(1, "updated"), end(3)], {"exit_code": 3})
    assert report.outcomes == {"updated": 1, "not_attempted": 4}
    assert report.failures_total == 4
    assert report.failures == ()
    assert report.summary == {"exit_code": 3}


def test_a_summary_left_by_an_earlier_session_is_not_taken_for_the_last() -> None:
    records = [start(), done(1, "updated"), end(3), {"e": "resume", "t": T0 + 9, "rows": 3}]
    report = build_run_report(records, {"exit_code": 3, "requests": {"total": 5}})
    assert report.summary is None
    assert report.summary_stale


def test_unknown_record_kinds_and_unreadable_lines_are_ignored() -> None:
    report = build_run_report(
        [
            start(rows=2),
            {"e": "hologram", "t": T0, "row": 1, "outcome": "failed"},
            None,
            ["not", "a", "record"],
            {"e": "done", "row": "one", "outcome": "failed"},
            {"e": "done", "row": True, "outcome": "failed"},
            {"e": "tick", "t": "soon", "started": "many"},
            done(2, "from-the-future"),
            done(1, "updated"),
            end(1),
        ],
        None,
    )
    assert report.outcomes == {"updated": 1, "other": 1}
    assert report.unreadable_lines == 2
    assert [f.outcome for f in report.failures] == ["other"]


def test_a_row_sent_again_after_its_done_line_has_no_outcome_until_its_next_done() -> None:
    records = [start(rows=2), done(1, "not_attempted"), done(2, "updated"), end(3)]
    records += [{"e": "resume", "t": T0 + 5, "rows": 2}]
    records += [{"e": "sent", "t": T0 + 6, "row": 1, "key": "o/w/c1", "op": "patch"}]
    report = build_run_report(records, None)
    assert report.outcomes == {"updated": 1, NO_OUTCOME: 1}
    assert report.failures == ()


def test_campaigns_paused_and_not_resumed_are_listed_with_their_rows() -> None:
    report = build_run_report(
        [
            start(rows=4),
            {"e": "paused", "t": T0, "row": 1, "key": "o/w/a"},
            {"e": "paused", "t": T0, "row": 2, "key": "o/w/b"},
            {"e": "resumed", "t": T0, "row": 1, "key": "o/w/a"},
            {"e": "sent", "t": T0, "row": 3, "key": "o/w/c", "op": "pause"},  # no answer
            {"e": "sent", "t": T0, "row": 4, "key": "o/w/d", "op": "pause"},
            {"e": "pause_refused", "t": T0, "row": 4, "key": "o/w/d"},
        ],
        None,
    )
    assert report.left_paused == (("o/w/b", 2), ("o/w/c", 3))
    assert report.left_paused_total == 2


def test_failures_are_capped_in_the_page_but_counted_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runreport, "FAILURES_SHOWN", 10)
    records = [start(rows=25), *(done(r, "failed", reason="503") for r in range(1, 26)), end(1)]
    report = build_run_report(records, None)
    assert [f.row for f in report.failures] == list(range(1, 11))
    assert report.failures_total == 25
    assert report.reasons == (("503", 10),)


def test_reasons_are_listed_most_frequent_first_and_capped_in_length() -> None:
    long = "x" * 5000
    records = [start(rows=6)]
    records += [done(r, "skipped", reason="campaign is active") for r in (1, 2, 3)]
    records += [done(4, "rejected", reason="422"), done(5, "rejected", reason=long)]
    records += [done(6, "rejected", reason="422")]
    reasons = build_run_report(records, None).reasons
    assert [n for _, n in reasons] == [3, 2, 1]
    assert reasons[0][0] == "campaign is active"
    assert len(reasons[2][0]) < 500
    assert "cut" in reasons[2][0]


@pytest.mark.slow  # 300,000 rows under tracemalloc: the size shows that memory stays flat
def test_a_300_000_row_journal_is_folded_in_a_few_mebibytes() -> None:
    rows = 300_000

    def records() -> Iterator[dict[str, Any]]:
        yield start(rows=rows)
        for r in range(1, rows + 1):
            yield done(r, "updated" if r % 10 else "failed", reason=f"reason {r % 7}")
            if r % 100 == 0:
                yield tick(T0 + r / 100, 100)
        yield end(1)

    tracemalloc.start()
    try:
        report = build_run_report(records(), None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.outcomes == {"updated": rows * 9 // 10, "failed": rows // 10}
    assert len(report.failures) == runreport.FAILURES_SHOWN
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_the_sample_run_with_faults_reads_as_two_sessions_with_429s_and_5xx() -> None:
    records, summary = faulty_run()
    report = build_run_report(records, summary)
    assert [s.exit_code for s in report.sessions] == [3, 1]
    assert report.traffic.seconds_throttled > 10
    assert report.traffic.seconds_server_error > 10
    assert report.summary == summary
    assert sum(report.outcomes.values()) == 6000


# ----------------------------------------------------------------------------------------------
# The writer
# ----------------------------------------------------------------------------------------------


def write_journal(run_dir: Path, records: list[Any]) -> None:
    import json

    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, separators=(",", ":")) for r in records]
    (run_dir / "journal.jsonl").write_text("\n".join(lines) + '\n{"e":"done","ro')


def test_write_run_report_writes_a_private_page_whole_and_reads_a_cut_last_line(
    tmp_path: Path,
) -> None:
    write_journal(tmp_path, [start(rows=2), done(1, "updated"), done(2, "failed"), end(1)])
    path = write_run_report(tmp_path)
    assert path == tmp_path / "report.html"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal.jsonl", "report.html"]
    page = path.read_text(encoding="utf-8")
    assert "1 journal line(s) could not be read" in page
    assert page.count('<tr data-o="failed"') == 1


def test_write_run_report_takes_summary_json_when_present_and_survives_a_broken_one(
    tmp_path: Path,
) -> None:
    write_journal(tmp_path, [start(rows=1), done(1, "updated"), end(0)])
    (tmp_path / "summary.json").write_text('{"requests": {"total": 4321, "by_method": {}}}')
    assert "4,321" in write_run_report(tmp_path).read_text()
    (tmp_path / "summary.json").write_text("{broken")
    assert "4,321" not in write_run_report(tmp_path).read_text()


def test_write_run_report_without_a_journal_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"journal\.jsonl"):
        write_run_report(tmp_path)
    assert not (tmp_path / "report.html").exists()


async def test_a_real_runs_journal_gives_the_counts_its_summary_has(
    tmp_path: Path, start_simulator: StartSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, ws = "org-html", "ws-html"
    statuses = {"p1": "paused", "p2": "scheduled", "a1": "active", "e1": "ended"}
    sim = await start_simulator(
        overrides={(org, ws, c): {"status": s} for c, s in statuses.items()}
    )
    sheet = write_sheet(
        tmp_path / "s.csv",
        [
            {"org_id": org, "workspace_id": ws, "campaign_id": c, "name": "Renamed"}
            for c in [*statuses, "missing"]
        ],
    )
    run = await run_sheet(sheet, sim, monkeypatch)
    assert run.run_dir is not None
    report = build_run_report(iter_records(run.run_dir / "journal.jsonl"), run.summary())
    assert report.outcomes == {k: v for k, v in run.summary()["outcomes"].items() if v}
    assert report.finished
    assert report.exit_code == run.code == 1
    assert {f.campaign.rsplit("/", 1)[1] for f in report.failures} == {"a1", "e1", "missing"}
    assert report.summary is not None
    page = write_run_report(run.run_dir).read_text()
    assert "org-html/ws-html/missing" in page
    assert external_references(page) == []
