"""The column-wise check and the row-by-row check say exactly the same of any sheet: every message,
row number and order, the keys, the blank rows, the ``--no-read`` reasons; and a run's streaming
pass that reuses the check yields the very verdicts that validating every row again yields."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulkpatch.sheet import Sheet, open_sheet
from bulkpatch.validation import SheetCheck, check_sheet, iter_verdicts

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12
)
IDS = st.sampled_from(["o", "w", "org-1", "ws_2", "c1", "c2", "c3", "bad id", "x" * 129, "é", ""])
CELLS: dict[str, st.SearchStrategy[str]] = {
    "org_id": IDS,
    "workspace_id": IDS,
    "campaign_id": st.one_of(IDS, st.from_regex(r"\Ac[0-9]{1,3}\Z")),
    "name": st.one_of(
        st.from_regex(r"\A[A-Za-z0-9 _-]{0,55}\Z"),
        TEXT,
        st.sampled_from(["=1+1", "  Diwali  ", "N" * 50, "N" * 51, "Diwali Sale"]),
    ),
    "description": st.one_of(
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=160
        ),
        st.sampled_from(["+cmd", "d" * 150, "d" * 151, "é" * 150]),
    ),
    "end_timestamp": st.one_of(
        st.sampled_from(
            [
                "2026-01-31T18:00:00Z",
                "2026-01-31T18:00:00+05:30",
                "2026-01-31T18:00:00+00:00",
                "2026-01-31T18:00:00-00:00",
                "2026-01-31 18:00:00+05:30",
                "2026-01-31T18:00:00",
                "2026-02-30T18:00:00Z",
                "2024-02-29T23:59:59-14:00",
                "0001-01-01T00:00:00Z",
                "0000-01-01T00:00:00Z",
                "2026-01-31T18:00:00.5Z",
                "1700000000",
                "٢٠٢٦-01-31T18:00:00Z",
            ]
        ),
        TEXT,
    ),
    "allowed_schedule.allowed_start_time": st.one_of(
        st.sampled_from(["09:00", "9:00", "24:00", "18:30", "23:59", "00:00", "١٠:٠٠", "10:00:00"]),
        TEXT,
    ),
    "allowed_schedule.allowed_end_time": st.sampled_from(
        ["17:00", "09:00", "08:00", "2026-01-01 10:00:00", "x", "23:59"]
    ),
    "allowed_schedule.allowed_days": st.sampled_from(
        ["Mon,Tue", "Mon-Sat", '["Monday", "Friday"]', "Mon,Mon", "Funday", "[", "[]", "mon; wed"]
    ),
    "allowed_schedule.timezone": st.sampled_from(["Asia/Kolkata", "UTC", "utc", "Mars/Base"]),
    "app_config.app_version": st.one_of(
        st.integers(-3, 2**31 + 2).map(str), st.sampled_from(["7.0", "1e3", "seven", "+7"])
    ),
    "app_config.attempts_per_second": st.sampled_from(["2.5", "0", "nan", "501", "1e2", "x"]),
    "app_config.retry_config.retry_on.busy.enabled": st.sampled_from(
        ["true", "false", "yes", "no", "1", "0", "maybe", "TRUE"]
    ),
    "app_config.webhook_config.metadata": st.sampled_from(
        ['{"team": "sales"}', "{}", '{"a": 1, "a": 2}', "[1]", "{bad", '{"n": NaN}']
    ),
    "app_config.retry_config": st.sampled_from(
        ['{"max_retries": 3}', '{"max_retries": 30}', '{"nope": 1}']
    ),
    "expect.status": st.sampled_from(["paused", "scheduled", "running", "Paused"]),
    "#note": TEXT,
}


KEYS = ("org_id", "workspace_id", "campaign_id")
CHANGES_AND_MORE = [c for c in CELLS if c not in KEYS]


#: Cells every rule accepts, so that a row is often valid but for the one cell that is not.
VALID: dict[str, st.SearchStrategy[str]] = {
    "org_id": st.sampled_from(["o", "org-1"]),
    "workspace_id": st.sampled_from(["w", "ws_2"]),
    "campaign_id": st.from_regex(r"\Ac[0-9]{1,3}\Z"),
    "name": st.from_regex(r"\A[A-Za-z0-9_-][A-Za-z0-9 _-]{0,48}[A-Za-z0-9_-]\Z"),
    "description": st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=150
    ),
    "end_timestamp": st.sampled_from(["2026-01-31T18:00:00Z", "2026-01-31T18:00:00+05:30"]),
    "allowed_schedule.allowed_start_time": st.sampled_from(["08:00", "09:00"]),
    "allowed_schedule.allowed_end_time": st.sampled_from(["17:00", "23:59"]),
    "allowed_schedule.allowed_days": st.sampled_from(["Mon,Tue", "Mon-Sat"]),
    "allowed_schedule.timezone": st.sampled_from(["Asia/Kolkata", "UTC"]),
    "app_config.app_version": st.integers(1, 2**31 - 1).map(str),
    "app_config.attempts_per_second": st.sampled_from(["2.5", "10"]),
    "app_config.retry_config.retry_on.busy.enabled": st.sampled_from(["true", "no"]),
    "app_config.webhook_config.metadata": st.just('{"team": "sales"}'),
    "app_config.retry_config": st.just('{"max_retries": 3}'),
    "expect.status": st.sampled_from(["paused", "scheduled"]),
    "#note": TEXT,
}


def _cell(column: str) -> st.SearchStrategy[str]:
    valid = VALID[column]
    return st.one_of(st.just(""), valid, valid, valid, valid, valid, valid, CELLS[column])


@st.composite
def sheets(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    both = ["org_id", "workspace_id"]
    keys = draw(st.sampled_from([both, both, both, ["workspace_id"], ["workspace_id", "org_id"]]))
    others = draw(st.lists(st.sampled_from(CHANGES_AND_MORE), unique=True, min_size=1, max_size=5))
    columns = [*keys, "campaign_id", *others]
    if draw(st.booleans()):
        columns.append("")  # a trailing column without a name
    width = len(columns)
    rows = draw(
        st.lists(
            st.lists(st.just(""), min_size=width, max_size=width)
            | st.tuples(*(_cell(c) if c else st.sampled_from(["", "stray"]) for c in columns)).map(
                list
            ),
            min_size=1,
            max_size=25,
        )
    )
    return columns, rows


def _write(path: Path, columns: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def _facts(check: SheetCheck) -> tuple[object, ...]:
    return (
        check.rows,
        check.header_problems,
        check.problems,
        check.invalid_rows,
        check.blank_row_numbers,
        check.last_row,
        check.keys,
        check.no_read_problems,
        check.no_read_problem_count,
        check.no_read_rows,
        check.shard_rows,
    )


def _by_rows(sheet: Sheet) -> Sheet:
    return dataclasses.replace(sheet, framer=None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheet=sheets(), no_read=st.booleans(), org=st.sampled_from([None, "o", "o", "bad org"]))
def test_both_paths_find_the_same_problems_rows_keys_and_verdicts(
    tmp_path_factory: object,
    sheet: tuple[list[str], list[list[str]]],
    no_read: bool,
    org: str | None,
) -> None:
    columns, rows = sheet
    folder = tmp_path_factory.mktemp("sheet")  # type: ignore[attr-defined]
    opened = open_sheet(_write(folder / "sheet.csv", columns, rows))
    assert opened.framer is not None

    def holds(key: object) -> bool:
        return key is None or hash(str(key)) % 2 == 0

    options = {"org": org, "no_read": no_read, "collect_keys": True, "holds": holds}
    columnar = check_sheet(opened, batch_size=7, keep=True, **options)  # type: ignore[arg-type]
    by_rows = check_sheet(_by_rows(opened), batch_size=7, **options)  # type: ignore[arg-type]
    assert columnar.reuse is not None
    assert by_rows.reuse is None
    assert _facts(columnar) == _facts(by_rows)
    reused = list(iter_verdicts(opened, org=org, check=columnar, batch_size=5))
    again = list(iter_verdicts(_by_rows(opened), org=org, check=by_rows, batch_size=5))
    assert reused == again
