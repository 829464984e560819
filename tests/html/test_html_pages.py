"""report.html and plan.html as text: what they show, and that hostile data stays data."""

from __future__ import annotations

import base64
import hashlib
import re
import stat
from pathlib import Path

import pytest
from test_runreport import done, end, start, tick

from bulkpatch.html import planpage
from bulkpatch.html.kit import clean, esc, options_rows
from bulkpatch.html.planpage import render_plan_page, write_plan_page
from bulkpatch.html.runpage import render_run_report
from bulkpatch.html.runreport import build_run_report
from support.html_audit import audit_page
from support.html_samples import T0, faulty_run, hostile_plan, hostile_run, plan_rows


def run_page(records: list, summary: dict | None = None) -> str:  # type: ignore[type-arg]
    return render_run_report(build_run_report(records, summary))


# ----------------------------------------------------------------------------------------------
# Hostile data
# ----------------------------------------------------------------------------------------------


def hostile_pages() -> list[str]:
    records, summary = hostile_run()
    rows, meta = hostile_plan()
    return [run_page(records, summary), render_plan_page(rows, meta)]


@pytest.mark.parametrize("page", hostile_pages(), ids=["report.html", "plan.html"])
def test_a_page_of_hostile_data_makes_no_external_request_and_runs_nothing_injected(
    page: str,
) -> None:
    audit = audit_page(page)
    assert audit.problems == []
    assert audit.scripts == 1  # ours, inline
    assert audit.styles == 1
    assert "default-src 'none'" in audit.csp
    assert "<script>alert" not in page
    assert "<img" not in page
    assert "<link" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


@pytest.mark.parametrize("page", hostile_pages(), ids=["report.html", "plan.html"])
def test_a_page_of_hostile_data_holds_no_control_character_no_key_and_no_endless_value(
    page: str,
) -> None:
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]", page)
    assert not re.search(r"[\ud800-\udfff]", page)
    page.encode("utf-8")  # writable as UTF-8
    assert "sk-live-must-not-show" not in page
    assert "(hidden)" in page
    assert "A" * 2100 not in page
    assert re.search(r"… \[cut: 19,\d{3} more characters\]", page)  # a cut says how much
    assert len(page) < 200_000


@pytest.mark.parametrize("page", hostile_pages(), ids=["report.html", "plan.html"])
def test_the_pages_policy_allows_exactly_its_own_style_and_script(page: str) -> None:
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert style is not None
    assert script is not None

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    csp = audit_page(page).csp
    assert f"style-src {digest(style.group(1))};" in csp
    assert f"script-src {digest(script.group(1))};" in csp


def test_clean_makes_any_value_one_printable_capped_line() -> None:
    assert clean(None) == ""
    assert clean("a\nb\tc\x1b[31m\u202e") == "a b c[31m"
    assert clean({"k": [1, "é"]}) == '{"k":[1,"é"]}'
    assert clean("x" * 50, 10) == "x" * 10 + " … [cut: 40 more characters]"
    assert esc('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert esc("\ud800ok") == "ok"


def test_options_whose_name_looks_secret_are_hidden_and_the_key_file_path_is_not() -> None:
    html = options_rows(
        {"api_key": "s1", "token": "s2", "api_key_env": "SARVAM_API_KEY", "api_key_file": "/k"}
    )
    assert "s1" not in html
    assert "s2" not in html
    assert html.count("(hidden)") == 2
    assert "SARVAM_API_KEY" in html
    assert "/k" in html


# ----------------------------------------------------------------------------------------------
# report.html
# ----------------------------------------------------------------------------------------------


def test_the_run_page_shows_counts_failures_options_sessions_and_both_charts() -> None:
    records, summary = faulty_run()
    report = build_run_report(records, summary)
    page = render_run_report(report)
    for outcome, n in report.outcomes.items():
        assert f'<span class="n">{n:,}</span><span class="l">{outcome}</span>' in page
    assert page.count("<tr data-o=") == len(report.failures) == report.failures_total
    assert page.count('<tr data-o="rejected"') == report.outcomes["rejected"]
    assert "<h2>Sessions</h2>" in page
    assert "<h3>Session 2 changed</h3>" in page  # --rate 50 on resume
    assert 'aria-label="requests started per second over the run"' in page
    assert 'aria-label="latency p50, p95 and p99 over the run"' in page
    assert "session 2</text>" in page
    assert 'class="m429"' in page
    assert 'class="m5xx"' in page
    assert "exit code 1" in page
    assert "SARVAM_API_KEY" in page  # the name of the variable, never a key
    assert "2,430" in page  # GETs, from summary.json
    assert 'id="f-o"' in page
    assert 'id="f-r"' in page


def test_the_reason_filter_offers_each_listed_reason_with_its_count() -> None:
    records = [start(rows=3)]
    records += [done(r, "skipped", reason="campaign is <active>") for r in (1, 2)]
    records += [done(3, "rejected", reason="HTTP 422"), end(1)]
    page = run_page(records)
    assert '<option value="0">campaign is &lt;active&gt; (2)</option>' in page
    assert '<option value="1">HTTP 422 (1)</option>' in page
    assert page.count('data-r="0"') == 2
    assert '<option value="skipped">skipped (2)</option>' in page


def test_a_single_session_run_without_failures_says_so_and_has_no_sessions_table() -> None:
    page = run_page([start(rows=1), tick(T0 + 1), done(1, "updated"), end(0)])
    assert "<h2>Sessions</h2>" not in page
    assert "None: every row was updated or unchanged." in page
    assert "exit code 0: every row updated or unchanged" in page


def test_a_crashed_run_says_the_last_session_has_no_end_and_counts_rows_without_outcome() -> None:
    page = run_page([start(rows=5), done(1, "updated"), done(2, "failed")])
    assert "The last session has no end" in page
    assert '<span class="n">3</span><span class="l">no outcome</span>' in page
    assert "<h2>Requests</h2>" in page
    assert "no per-second samples" in page
    assert "<svg viewBox" not in page


def test_campaigns_left_paused_are_shown_first_with_the_command_that_resumes_them() -> None:
    page = run_page([start(), {"e": "paused", "t": T0, "row": 2, "key": "o/w/<b>"}, end(3)])
    assert "1 campaign(s) this run paused, or may have paused, and did not resume" in page
    assert "o/w/&lt;b&gt;" in page
    assert page.index("did not resume") < page.index("<h2>Outcomes</h2>")


def test_a_summary_from_an_earlier_session_is_named_and_not_shown() -> None:
    page = run_page(
        [start(), end(3), {"e": "resume", "t": T0 + 5, "rows": 3}],
        {"requests": {"total": 987654, "by_method": {"GET": 1}}},
    )
    assert "summary.json is from an earlier session" in page
    assert "987,654" not in page


# ----------------------------------------------------------------------------------------------
# plan.html
# ----------------------------------------------------------------------------------------------


def test_the_plan_page_shows_counts_rows_changes_and_the_plans_facts() -> None:
    rows, meta = plan_rows()
    page = render_plan_page(rows, meta)
    for outcome, n in meta["counts"].items():
        assert f'data-o="{outcome}"><span class="n">{n:,}</span>' in page
    assert page.count("<tr data-o=") == len(rows)
    assert (
        '<span class="mono">allowed_schedule.allowed_start_time</span>: 09:30 '
        '<span class="arrow">-&gt;</span> 10:00' in page
    )
    assert "Monday, Tuesday, Wednesday, Thursday, Friday" in page
    for fact in ("sha256", "digest", "sheet", "created"):
        assert esc(meta[fact]) in page
    assert f"<strong>{meta['counts']['updated']}</strong> of 300 campaigns would change" in page
    assert page.count('<button type="button" class="sort">') == 7
    assert '<option value="invalid">invalid' in page
    assert "<h2>Options</h2>" in page


def test_a_plan_value_shows_none_empty_text_lists_and_objects_distinctly() -> None:
    page = render_plan_page(
        [
            {
                "row": 1,
                "campaign": "o/w/c",
                "outcome": "updated",
                "changes": [
                    ["description", None, ""],
                    ["app_config.webhook_config.metadata", {"a": 1}, {"a": "<2>"}],
                    ["allowed_schedule.allowed_days", ["Monday"], ["Monday", "Friday"]],
                ],
            }
        ],
        {},
    )
    assert '<em class="muted">(none)</em> <span class="arrow">-&gt;</span> <em' in page
    assert "{&quot;a&quot;:1}" in page
    assert "{&quot;a&quot;:&quot;&lt;2&gt;&quot;}" in page
    assert "Monday, <ins>Friday</ins>" in page  # the day added is marked


def test_plan_rows_given_by_ids_show_the_campaign_and_counts_come_from_rows_if_not_given() -> None:
    page = render_plan_page(
        [{"row": 2, "org_id": "o", "workspace_id": "w", "campaign_id": "c", "outcome": "skipped"}],
        {"sheet": "s.csv"},
    )
    assert "o/w/c" in page
    assert 'data-o="skipped"><span class="n">1</span>' in page


def test_a_long_plan_lists_its_first_rows_and_says_where_the_rest_are(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(planpage, "PLAN_ROWS_SHOWN", 50)
    rows, meta = plan_rows(300)
    page = render_plan_page(iter(rows), meta)
    assert page.count("<tr data-o=") == 50
    assert "The first 50 of 300 rows are listed here; every row is in plan.csv." in page
    assert "campaigns would change" in page
    assert f"of {sum(meta['counts'].values())} campaigns" in page


def test_write_plan_page_writes_a_private_page_whole(tmp_path: Path) -> None:
    rows, meta = plan_rows(20)
    path = write_plan_page(tmp_path / "plan.html", rows, meta)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["plan.html"]
    assert path.read_text(encoding="utf-8") == render_plan_page(rows, meta)
