"""Offline validation: every field rule (docs/sheet.md) takes a good value and refuses a bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkpatch.core.columns import CHANGE_PATHS, EXPECT_PATHS, all_valid_columns
from bulkpatch.core.rows import CampaignKey, Problem, RowChange
from bulkpatch.sheet import open_sheet
from bulkpatch.validation import (
    RowValidator,
    check_header,
    check_sheet,
    iter_verdicts,
    no_read_problems,
    normalise_days,
    shorten,
    validate_row,
)

KEYS = {"org_id": "org-1", "workspace_id": "ws-1", "campaign_id": "cmp-1"}


def verdict_of(**cells: Any):  # type: ignore[no-untyped-def]
    """Validate row 7 holding the key columns and ``cells`` (dots spelt ``__``)."""
    named = {k.replace("__", "."): v for k, v in cells.items()}
    return validate_row(7, {**KEYS, **named})


def changes_of(**cells: Any) -> dict[str, Any]:
    verdict = verdict_of(**cells)
    assert verdict.ok, verdict.problems
    assert verdict.change is not None
    return verdict.change.changes


def only_problem(**cells: Any) -> Problem:
    verdict = verdict_of(**cells)
    assert not verdict.ok
    assert verdict.change is None
    assert len(verdict.problems) == 1, verdict.problems
    return verdict.problems[0]


# -- one rule each: a good value passes, a bad one is refused naming row, column and rule -----

RULES = [
    # column, good cell, bad cell, words the message must hold
    ("name", "Diwali Sale-2026_b", "Diwali sale!!", "letters, digits, spaces, - and _"),
    ("name", "x" * 50, "x" * 51, "at most 50 characters"),
    ("description", "d" * 150, "d" * 151, "at most 150 characters"),
    ("end_timestamp", "2026-12-01T18:00:00+05:30", "2026-12-01T18:00:00", "has no time zone"),
    ("end_timestamp", "2026-12-01T18:00:00Z", "tomorrow evening", "ISO 8601"),
    ("end_timestamp", "2026-12-01 18:00+00:00", "1764612000", "ISO 8601"),
    ("allowed_schedule.allowed_start_time", "09:00", "9:00", "HH:MM"),
    ("allowed_schedule.allowed_end_time", "23:59", "24:00", "HH:MM"),
    ("allowed_schedule.allowed_days", "Mon,Tue", "Mon,Funday", "`Funday` is not a day"),
    ("allowed_schedule.allowed_days", "Monday", "Mon,monday", "names Monday twice"),
    ("allowed_schedule.allowed_days", '["Sunday"]', "[]", "at least one day"),
    ("allowed_schedule.timezone", "Asia/Kolkata", "India/Kolkata", "IANA time zone"),
    ("app_config.app_version", "7", "0", "at least 1"),
    ("app_config.app_version", "12", "7.5", "whole number"),
    ("app_config.app_id", "agent-42", "", None),  # empty cell = no change, see below
    ("app_config.app_type", "workflow", "bot", "'agent' or 'workflow'"),
    ("app_config.attempts_per_second", "0.1", "0.05", "at least 0.1"),
    ("app_config.attempts_per_second", "500", "500.5", "at most 500"),
    ("app_config.attempts_per_second", "2.5", "fast", "must be a number"),
    ("app_config.retry_config.max_retries", "20", "21", "at most 20"),
    ("app_config.retry_config.max_retries", "0", "-1", "at least 0"),
    ("app_config.retry_config.retry_interval_minutes", "5", "-5", "at least 0"),
    ("app_config.retry_config.retry_interval_minutes", "[5, 10.5]", "[5, -1]", "item [1]"),
    ("app_config.retry_config.retry_interval_minutes", "0", "inf", "finite"),
    ("app_config.retry_config.retry_on.busy.enabled", "yes", "maybe", "true or false"),
    (
        "app_config.retry_config.retry_on.short_duration.threshold_seconds",
        "30",
        "-1",
        "at least 0",
    ),
    (
        "app_config.connection_configs",
        '[{"connection_id": "c1", "phone_numbers": ["+919812345678"], "weight": 2}]',
        '[{"connection_id": "c1", "phone_numbers": ["9812345678"]}]',
        "E.164",
    ),
    (
        "app_config.connection_configs",
        '[{"connection_id": "c", "phone_numbers": ["+1234567"]}]',
        "[]",
        "must not be empty",
    ),
    (
        "app_config.connection_configs",
        '[{"connection_id": "c1", "phone_numbers": ["+919812345678"]}]',
        '[{"connection_id": "", "phone_numbers": ["+919812345678"]}]',
        "connection_id: must not be empty",
    ),
    (
        "app_config.connection_configs",
        '[{"connection_id": "c1", "phone_numbers": ["+919812345678"], "weight": 1}]',
        '[{"connection_id": "c1", "phone_numbers": ["+919812345678"], "weight": 0}]',
        "weight: must be at least 1",
    ),
    (
        "app_config.connection_configs",
        '[{"connection_id": "c1", "phone_numbers": ["+919812345678"]}]',
        '[{"connection_id": "c1", "phone_numbers": []}]',
        "phone_numbers: must not be empty",
    ),
    (
        "app_config.webhook_config.url",
        "https://hooks.example.com/x",
        "http://hooks.example.com",
        "https://",
    ),
    ("app_config.webhook_config.metadata", '{"team": "sales"}', "[1, 2]", "must be an object"),
    ("allowed_schedule", '{"timezone": "UTC"}', '{"timezon": "UTC"}', "did you mean `timezone`"),
    ("app_config.retry_config", '{"max_retries": 2}', "{max_retries: 2}", "is not valid JSON"),
]


@pytest.mark.parametrize(("column", "good", "bad", "words"), RULES)
def test_each_rule_accepts_a_good_value_and_refuses_a_bad_one(
    column: str, good: str, bad: str, words: str | None
) -> None:
    assert validate_row(7, {**KEYS, column: good}).ok
    if words is None:
        return
    verdict = validate_row(7, {**KEYS, column: bad})
    assert not verdict.ok
    messages = [str(p) for p in verdict.problems]
    assert any(words in p.rule for p in verdict.problems), messages
    problem = next(p for p in verdict.problems if words in p.rule)
    assert problem.row == 7
    assert problem.column == column
    assert problem.value == shorten(bad)
    assert f"row 7, column `{column}`" in str(problem)


def test_every_change_path_has_a_rule_test() -> None:
    tested = {column.split(".")[0] for column, *_ in RULES}
    assert {path.split(".")[0] for path in CHANGE_PATHS} <= tested


# -- values are converted and normalised -------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "days"),
    [
        ("Mon,Tue", ["Monday", "Tuesday"]),
        ("monday; tuesday", ["Monday", "Tuesday"]),
        ("MON TUE wed", ["Monday", "Tuesday", "Wednesday"]),
        ("Thurs, Sat.", ["Thursday", "Saturday"]),
        ("Mon-Sat", ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]),
        ("Fri-Mon", ["Friday", "Saturday", "Sunday", "Monday"]),
        ('["mon", "Sunday"]', ["Monday", "Sunday"]),
    ],
)
def test_allowed_days_shorthand_is_normalised_to_the_api_day_names(
    cell: str, days: list[str]
) -> None:
    assert changes_of(allowed_schedule__allowed_days=cell) == {
        "allowed_schedule.allowed_days": days
    }


def test_allowed_days_shorthand_also_works_inside_an_allowed_schedule_object() -> None:
    changes = changes_of(allowed_schedule='{"allowed_days": "sat; SUN", "timezone": "UTC"}')
    assert changes == {
        "allowed_schedule": {"allowed_days": ["Saturday", "Sunday"], "timezone": "UTC"}
    }


def test_normalise_days_keeps_unknown_tokens_so_that_validation_can_name_them() -> None:
    assert normalise_days("Mon,Xyz") == ["Monday", "Xyz"]
    assert normalise_days(5) == 5


def test_end_timestamp_is_iso_text_that_keeps_its_offset() -> None:
    assert changes_of(end_timestamp="2026-12-01T18:00:00+05:30") == {
        "end_timestamp": "2026-12-01T18:00:00+05:30"
    }
    assert changes_of(end_timestamp="2026-12-01 18:00-04:00") == {
        "end_timestamp": "2026-12-01T18:00:00-04:00"
    }


def test_a_naive_end_timestamp_message_says_it_has_no_time_zone() -> None:
    problem = only_problem(end_timestamp="2026-12-01T18:00")
    assert problem.column == "end_timestamp"
    assert "has no time zone" in problem.rule


def test_numbers_and_booleans_in_csv_text_become_json_numbers_and_booleans() -> None:
    changes = changes_of(
        app_config__app_version="7",
        app_config__attempts_per_second="2.5",
        app_config__retry_config__retry_on__busy__enabled="No",
    )
    assert changes == {
        "app_config.app_version": 7,
        "app_config.attempts_per_second": 2.5,
        "app_config.retry_config.retry_on.busy.enabled": False,
    }


@pytest.mark.parametrize(("cell", "value"), [("true", True), ("0", False), ("YES", True)])
def test_boolean_cells_take_true_false_yes_no_one_zero(cell: str, value: bool) -> None:
    column = "app_config.retry_config.retry_on.failed.enabled"
    assert changes_of(**{column.replace(".", "__"): cell}) == {column: value}


def test_json_true_is_not_taken_for_a_number() -> None:
    problem = only_problem(app_config='{"app_version": true}')
    assert problem.rule == "app_version: must be a number, not true/false"


def test_a_value_of_the_wrong_json_type_inside_an_object_is_named_by_its_key() -> None:
    problem = only_problem(app_config__webhook_config='{"url": "https://a.example", "metadata": 1}')
    assert problem.rule.startswith("metadata: must be an object")


def test_a_whole_object_column_is_checked_partially_and_keeps_only_the_keys_given() -> None:
    changes = changes_of(
        app_config='{"app_version": 8, "retry_config": {"retry_on": {"busy": {"enabled": false}}}}'
    )
    assert changes == {
        "app_config": {
            "app_version": 8,
            "retry_config": {"retry_on": {"busy": {"enabled": False}}},
        }
    }


def test_a_bad_key_deep_inside_an_object_is_named_by_its_path() -> None:
    problem = only_problem(app_config='{"retry_config": {"max_retries": 99}}')
    assert problem.column == "app_config"
    assert problem.rule == "retry_config.max_retries: must be at most 20"


def test_an_unknown_key_in_an_object_is_refused_with_the_closest_known_one() -> None:
    problem = only_problem(allowed_schedule='{"allowed_day": ["Monday"]}')
    assert "unknown key `allowed_day` — did you mean `allowed_days`?" in problem.rule


def test_an_empty_object_and_json_null_are_refused_because_they_change_nothing() -> None:
    assert "empty object" in only_problem(allowed_schedule="{}").rule
    assert "must not be null" in only_problem(allowed_schedule="null").rule


def test_json_with_a_repeated_key_or_nan_is_refused() -> None:
    assert (
        "appears twice"
        in only_problem(app_config__webhook_config__metadata='{"a": 1, "a": 2}').rule
    )
    assert (
        "not valid JSON"
        in only_problem(app_config__retry_config__retry_interval_minutes="[NaN]").rule
    )


def test_a_null_inside_an_object_is_kept_only_where_the_api_allows_null() -> None:
    assert changes_of(app_config='{"webhook_config": null}') == {
        "app_config": {"webhook_config": None}
    }
    problem = only_problem(allowed_schedule='{"allowed_start_time": null}')
    assert "must not be null" in problem.rule
    assert "must not be null" in only_problem(app_config='{"retry_config": null}').rule


def test_values_given_to_one_row_are_not_shared_with_the_next() -> None:
    validator = RowValidator([*KEYS, "allowed_schedule.allowed_days"])
    cells = {**KEYS, "allowed_schedule.allowed_days": "Mon,Tue"}
    first = validator.validate(1, cells).change
    second = validator.validate(2, {**cells, "campaign_id": "cmp-2"}).change
    assert first is not None
    assert second is not None
    first.changes["allowed_schedule.allowed_days"].append("Sunday")
    assert second.changes["allowed_schedule.allowed_days"] == ["Monday", "Tuesday"]


# -- checks across cells -----------------------------------------------------------------------


def test_start_must_be_before_end_when_a_row_sets_both_in_two_columns() -> None:
    assert changes_of(
        allowed_schedule__allowed_start_time="10:00", allowed_schedule__allowed_end_time="19:00"
    )
    problem = only_problem(
        allowed_schedule__allowed_start_time="19:00", allowed_schedule__allowed_end_time="10:00"
    )
    assert problem.column == "allowed_schedule.allowed_end_time"
    assert problem.rule == "allowed_start_time 19:00 must be before allowed_end_time 10:00"


def test_start_must_be_before_end_inside_one_object_too() -> None:
    problem = only_problem(
        allowed_schedule='{"allowed_start_time": "10:00", "allowed_end_time": "10:00"}'
    )
    assert problem.column == "allowed_schedule"
    assert "must be before" in problem.rule


def test_two_columns_that_set_the_same_field_are_refused() -> None:
    problem = only_problem(
        allowed_schedule='{"timezone": "Asia/Kolkata"}', allowed_schedule__timezone="UTC"
    )
    assert problem.column == "allowed_schedule.timezone"
    assert "column `allowed_schedule` also sets" in problem.rule


def test_an_object_and_an_inner_column_that_set_different_keys_are_fine() -> None:
    assert changes_of(
        allowed_schedule='{"allowed_days": ["Monday"]}', allowed_schedule__timezone="UTC"
    ) == {"allowed_schedule": {"allowed_days": ["Monday"]}, "allowed_schedule.timezone": "UTC"}


def test_an_object_that_sets_a_parent_of_an_inner_column_clashes_with_it() -> None:
    problem = only_problem(
        app_config='{"webhook_config": null}', app_config__webhook_config__url="https://a.example"
    )
    assert "sets `app_config.webhook_config.url`" in problem.rule


def test_a_row_that_changes_nothing_is_invalid() -> None:
    verdict = validate_row(3, {**KEYS, "name": None, "#note": "why", "expect.status": "paused"})
    assert [p.rule for p in verdict.problems] == [
        "changes nothing: every change column of this row is empty"
    ]
    assert verdict.problems[0].row == 3


def test_an_empty_cell_leaves_its_field_out_of_the_change() -> None:
    assert changes_of(name="Renewals", description=None) == {"name": "Renewals"}


def test_note_columns_are_ignored_whatever_they_hold() -> None:
    assert changes_of(name="x", **{"#note": "{not json", "_owner": "a, b"}) == {"name": "x"}


# -- guards ------------------------------------------------------------------------------------


def test_expect_status_must_be_a_known_status() -> None:
    verdict = verdict_of(name="x", **{"expect.status": "paused"})
    assert verdict.change is not None
    assert verdict.change.expects == {"status": "paused"}
    problem = only_problem(name="x", **{"expect.status": "running"})
    assert problem.column == "expect.status"
    assert "'paused'" in problem.rule


def test_expect_guards_are_checked_against_the_type_of_their_path() -> None:
    verdict = verdict_of(
        app_config__app_version="7",
        **{"expect.app_config.app_version": "6", "expect.allowed_schedule.allowed_days": "Mon"},
    )
    assert verdict.change is not None
    assert verdict.change.expects == {
        "app_config.app_version": 6,
        "allowed_schedule.allowed_days": ["Monday"],
    }
    problem = only_problem(app_config__app_version="7", **{"expect.app_config.app_version": "v6"})
    assert problem.column == "expect.app_config.app_version"
    assert "whole number" in problem.rule


def test_a_header_with_a_guard_for_every_path_is_accepted() -> None:
    columns = [*KEYS, "name", *("expect." + p for p in EXPECT_PATHS)]
    validator = RowValidator(columns)
    assert validator.header_problems == []
    verdict = validator.validate(1, {**KEYS, "name": "x", "expect.updated_at": "2026-01-01"})
    assert verdict.change is not None
    assert verdict.change.expects == {"updated_at": "2026-01-01"}


# -- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize("column", ["org_id", "workspace_id", "campaign_id"])
def test_an_id_with_characters_a_url_path_must_not_hold_is_refused(column: str) -> None:
    verdict = validate_row(2, {**KEYS, column: "a/../b", "name": "x"})
    assert [(p.row, p.column, p.value) for p in verdict.problems] == [(2, column, "a/../b")]
    assert "letter, digit, - or _" in verdict.problems[0].rule
    assert verdict.key is None


def test_org_and_workspace_defaults_fill_a_missing_column_or_an_empty_cell() -> None:
    verdict = validate_row(1, {"campaign_id": "cmp-1", "name": "x"}, org="o", workspace="w")
    assert verdict.key == CampaignKey("o", "w", "cmp-1")
    verdict = validate_row(
        1, {"org_id": "", "workspace_id": "ws-9", "campaign_id": "c", "name": "x"}, org="o"
    )
    assert verdict.key == CampaignKey("o", "ws-9", "c")


def test_an_empty_key_cell_without_a_default_is_a_row_problem() -> None:
    verdict = validate_row(4, {**KEYS, "org_id": None, "name": "x"})
    assert [(p.column, p.rule) for p in verdict.problems] == [
        ("org_id", "is empty and no --org: every row needs a org_id")
    ]


def test_a_sheet_without_key_columns_or_defaults_has_header_problems() -> None:
    problems = check_header(["name"])
    assert [p.column for p in problems] == ["org_id", "workspace_id", "campaign_id"]
    assert all(p.row == 0 for p in problems)
    assert check_header(["campaign_id", "name"], org="o", workspace="w") == []


def test_an_invalid_org_default_is_a_sheet_problem() -> None:
    [problem] = check_header(["campaign_id", "name"], org="my org", workspace="w")
    assert problem.column == "--org"
    assert problem.value == "my org"


def test_a_header_with_no_change_column_is_refused() -> None:
    [problem] = check_header(["org_id", "workspace_id", "campaign_id", "#note"])
    assert problem.rule.startswith("no change column")


def test_a_header_that_names_no_known_column_reads_as_a_missing_header() -> None:
    [problem] = check_header(["cmp-1", "10:00", "19:00"])
    assert "seems to have no header" in problem.rule


def test_a_semicolon_separated_header_is_recognised() -> None:
    [problem] = check_header(["campaign_id;name"])
    assert "semicolons" in problem.rule


def test_a_misspelt_column_is_a_sheet_problem_with_a_suggestion() -> None:
    problems = check_header([*KEYS, "alowed_days", "name"])
    assert [p.rule for p in problems] == [
        "unknown column `alowed_days` — did you mean `allowed_schedule.allowed_days`?"
    ]


# -- Parquet values ----------------------------------------------------------------------------


def test_native_parquet_values_are_checked_like_text() -> None:
    verdict = validate_row(
        1,
        {
            **KEYS,
            "app_config.app_version": 7,
            "allowed_schedule.allowed_days": ["mon", "Tue"],
            "app_config.retry_config": {"max_retries": 4, "retry_interval_minutes": [5.0, 15.0]},
        },
    )
    assert verdict.change is not None
    assert verdict.change.changes == {
        "app_config.app_version": 7,
        "allowed_schedule.allowed_days": ["Monday", "Tuesday"],
        "app_config.retry_config": {"max_retries": 4, "retry_interval_minutes": [5.0, 15.0]},
    }
    bad = validate_row(1, {**KEYS, "app_config.app_version": 7.5, "campaign_id": 12})
    assert [p.column for p in bad.problems] == ["app_config.app_version"]
    assert bad.key == CampaignKey("org-1", "ws-1", "12")


# -- --no-read ---------------------------------------------------------------------------------

FULL_SCHEDULE = {
    "allowed_start_time": "10:00",
    "allowed_end_time": "19:00",
    "allowed_days": ["Monday"],
    "timezone": "Asia/Kolkata",
}


def change(changes: dict[str, Any], expects: dict[str, Any] | None = None) -> RowChange:
    return RowChange(row=5, key=CampaignKey("o", "w", "c"), changes=changes, expects=expects or {})


def test_no_read_accepts_top_level_fields_and_complete_whole_objects() -> None:
    assert no_read_problems(change({"name": "x", "allowed_schedule": FULL_SCHEDULE})) == []


def test_no_read_refuses_a_change_inside_an_object() -> None:
    [problem] = no_read_problems(change({"allowed_schedule.timezone": "UTC"}))
    assert (problem.row, problem.column) == (5, "allowed_schedule.timezone")
    assert "needs the current `allowed_schedule`" in problem.rule


def test_no_read_refuses_an_incomplete_whole_object() -> None:
    partial = {k: v for k, v in FULL_SCHEDULE.items() if k != "allowed_days"}
    [problem] = no_read_problems(change({"allowed_schedule": partial}))
    assert "must be complete: missing `allowed_days`" in problem.rule
    problems = no_read_problems(change({"app_config": {"app_version": 2}}))
    assert {p.rule.rsplit(": ", 1)[-1] for p in problems} == {
        "missing `attempts_per_second`",
        "missing `connection_configs`",
        "missing `retry_config`",
    }


def test_no_read_refuses_guards_because_nothing_is_read_to_compare() -> None:
    [problem] = no_read_problems(change({"name": "x"}, {"status": "paused"}))
    assert problem.column == "expect.status"


# -- the whole sheet ---------------------------------------------------------------------------


def write_csv(tmp_path: Path, header: str, lines: list[str], name: str = "s.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_duplicate_rows_are_both_invalid_and_each_names_the_other(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path,
        "org_id,workspace_id,campaign_id,name",
        ["o,w,c1,a", "o,w,c2,b", "o,w,c1,c", "o,w2,c1,d"],
    )
    check = check_sheet(path)
    assert check.invalid_rows == {1, 3}
    assert [(p.row, p.column) for p in check.problems] == [(1, "campaign_id"), (3, "campaign_id")]
    assert "also in row 3" in check.problems[0].rule
    assert "also in row 1" in check.problems[1].rule
    assert check.summary() == "4 rows: 2 valid, 2 invalid"


def test_a_campaign_repeated_many_times_names_every_other_row_from_its_first(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path, "campaign_id,name", ["c1,a", "c1,b", "c1,c"])
    check = check_sheet(path, org="o", workspace="w")
    assert check.invalid_rows == {1, 2, 3}
    first = check.problems_of(1)
    assert len(first) == 1
    assert "also in rows 2, 3" in first[0].rule


def test_a_thousand_row_sheet_counts_every_row_in_its_summary(tmp_path: Path) -> None:
    lines = [f"o,w,cmp-{i},10:00,19:00" for i in range(1, 1001)]
    lines[99] = "o,w,cmp-100,19:00,10:00"
    lines[499] = "o,w,cmp 500,10:00,19:00"
    header = "org_id,workspace_id,campaign_id,allowed_schedule.allowed_start_time,"
    path = write_csv(tmp_path, header + "allowed_schedule.allowed_end_time", lines)
    check = check_sheet(path, batch_size=128)
    assert check.summary() == "1,000 rows: 998 valid, 2 invalid"
    assert check.invalid_rows == {100, 500}
    assert check.ok is False


def test_header_problems_stop_the_sheet_and_rows_are_still_checked(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "org_id,workspace_id,campaign_id,nmae,name", ["o,w,c,x,y!"])
    check = check_sheet(path)
    assert [p.rule for p in check.header_problems] == [
        "unknown column `nmae` — did you mean `name`?"
    ]
    assert check.invalid_rows == {1}
    assert check.summary() == "1 row: 1 invalid, and 1 sheet problem that stops the whole sheet"


def test_a_sheet_with_a_header_and_no_rows_is_not_ok(tmp_path: Path) -> None:
    check = check_sheet(write_csv(tmp_path, "org_id,workspace_id,campaign_id,name", []))
    assert check.rows == 0
    assert not check.ok
    assert "no data rows" in check.header_problems[0].rule


def test_a_valid_parquet_sheet_checks_clean(tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table({"campaign_id": ["c1", "c2"], "app_config.app_version": [7, 8]}), path)
    check = check_sheet(path, org="o", workspace="w")
    assert check.ok
    assert check.summary() == "2 rows: 2 valid, 0 invalid"


def test_iter_verdicts_streams_rows_in_order_and_marks_duplicates_from_the_check(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path, "campaign_id,name", ["c1,a", "c2,b!", "c1,c", "c3,d"])
    sheet = open_sheet(path)
    check = check_sheet(sheet, org="o", workspace="w")
    plain = list(iter_verdicts(sheet, org="o", workspace="w"))
    assert [v.row for v in plain] == [1, 2, 3, 4]
    assert [v.ok for v in plain] == [True, False, True, True]
    merged = list(iter_verdicts(sheet, org="o", workspace="w", check=check))
    assert [v.ok for v in merged] == [False, False, False, True]
    assert "also in row 3" in merged[0].problems[0].rule
    assert merged[3].change is not None
    assert merged[3].change.changes == {"name": "d"}


def test_the_shipped_examples_are_valid_and_bad_rows_breaks_one_rule_per_row() -> None:
    examples = Path(__file__).resolve().parents[2] / "input_examples"
    for name in (
        "mass-schedule-change.csv",
        "migration.parquet",
        "nightly-end-dates.csv",
        "retry-policy.xlsx",
    ):
        check = check_sheet(examples / name)
        assert check.ok, (name, check.header_problems, check.problems[:3])
    bad = check_sheet(examples / "bad-rows.csv")
    assert bad.valid_rows == 1
    assert len(bad.problems) == bad.rows - 1
    assert len({p.rule for p in bad.problems}) >= 25


def test_shorten_cuts_long_values_and_flattens_line_breaks() -> None:
    assert shorten("a" * 100) == "a" * 39 + "…"
    assert shorten("one\ntwo") == "one two"
    assert shorten({"k": [1]}) == '{"k": [1]}'
    assert shorten(None) == ""


# -- any text ----------------------------------------------------------------------------------

_TRICKY = st.sampled_from(
    [
        "",
        " ",
        "null",
        "[",
        "{}",
        "[]",
        '{"a":',
        "NaN",
        "1e999",
        "-0",
        "9" * 400,
        "[" * 2000,
        "Mon-",
        "Mon,,",
        "24:00",
        "\x00",
        "\ud7ff",
        '{"allowed_days": "x"}',
        '{"retry_config": {"retry_on": {"busy": 1}}}',
        '[{"connection_id": 1}]',
        "2026-02-30T10:00Z",
    ]
)
_CELL = st.one_of(st.none(), st.text(max_size=40), _TRICKY)
_COLUMNS = sorted(CHANGE_PATHS)


@settings(max_examples=300, deadline=None)
@given(cells=st.dictionaries(st.sampled_from([*_COLUMNS, "expect.status"]), _CELL, max_size=6))
def test_any_cell_text_yields_a_valid_row_or_problems_and_never_raises(
    cells: dict[str, str | None],
) -> None:
    verdict = validate_row(9, {**KEYS, **cells})
    assert verdict.row == 9
    if verdict.ok:
        assert verdict.change is not None
        json.dumps(verdict.change.changes, allow_nan=False)
        json.dumps(verdict.change.expects, allow_nan=False)
    else:
        assert verdict.change is None
        assert verdict.problems
        for problem in verdict.problems:
            assert problem.row == 9
            assert problem.column in cells or problem.column == ""
            assert problem.rule
            assert len(problem.value) <= 40


@settings(max_examples=200, deadline=None)
@given(
    column=st.sampled_from(_COLUMNS),
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    ),
)
def test_any_native_value_yields_a_valid_row_or_problems_and_never_raises(
    column: str, value: Any
) -> None:
    verdict = validate_row(1, {**KEYS, column: value})
    assert verdict.ok or verdict.problems
    if verdict.ok:
        assert verdict.change is not None
        json.dumps(verdict.change.changes, allow_nan=False)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    header=st.lists(
        st.text(max_size=25) | st.sampled_from(all_valid_columns()), min_size=1, max_size=6
    )
)
def test_any_header_gives_a_list_of_sheet_problems_and_never_raises(header: list[str]) -> None:
    problems = check_header(header)
    assert all(p.row == 0 and p.rule for p in problems)
    validator = RowValidator(header)
    verdict = validator.validate(1, dict.fromkeys(header, "x"))
    assert verdict.row == 1
