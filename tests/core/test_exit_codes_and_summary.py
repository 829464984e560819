"""One function decides every exit code from what a command came to, and one builds the
content of summary.json from plain values."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bulkpatch.core.errors import InternalError, StorageError, UsageError
from bulkpatch.core.failures import exit_code_of
from bulkpatch.core.outcomes import ExitCode, Outcome
from bulkpatch.core.summary import NextStep, exit_code_for, summary_content

OK = {"updated": 3, "unchanged": 1}
HELD = {"updated": 2, "not_attempted": 5}


@pytest.mark.parametrize(
    ("outcomes", "flags", "code"),
    [
        (OK, {}, ExitCode.OK),
        ({}, {}, ExitCode.OK),
        ({**OK, "failed": 1}, {}, ExitCode.SOME_ROWS_NOT_OK),
        ({**OK, "failed": 0}, {}, ExitCode.OK),
        (OK, {"aborted": True}, ExitCode.ABORTED),
        (OK, {"left_paused": 1}, ExitCode.ABORTED),
        (HELD, {"canary_held": True}, ExitCode.OK),
        (HELD, {}, ExitCode.SOME_ROWS_NOT_OK),
        ({**HELD, "rejected": 1}, {"canary_held": True}, ExitCode.SOME_ROWS_NOT_OK),
        (HELD, {"canary_held": True, "aborted": True}, ExitCode.ABORTED),
        ({}, {"mismatches": 2}, ExitCode.SOME_ROWS_NOT_OK),
        ({}, {"mismatches": 2, "aborted": True}, ExitCode.ABORTED),
        ({}, {"usage": True}, ExitCode.USAGE),
        ({}, {"internal": True, "aborted": True}, ExitCode.INTERNAL),
    ],
)
def test_the_exit_code_follows_from_the_outcomes_and_what_stopped_the_command(
    outcomes: dict[str, int], flags: dict[str, Any], code: ExitCode
) -> None:
    assert exit_code_for(outcomes, **flags) is code


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (KeyboardInterrupt(), ExitCode.ABORTED),
        (StorageError("full", sent=True), ExitCode.ABORTED),
        (StorageError("full", sent=False), ExitCode.USAGE),
        (UsageError("bad flag"), ExitCode.USAGE),
        (InternalError("bug"), ExitCode.INTERNAL),
        (ValueError("bug"), ExitCode.INTERNAL),
    ],
)
def test_an_error_that_ended_a_command_gets_its_exit_code_from_the_same_function(
    error: BaseException, code: ExitCode
) -> None:
    assert exit_code_of(error) is code


def test_summary_content_counts_every_outcome_and_names_the_top_reasons() -> None:
    steps = [
        NextStep(1, "rejected", "bad value", "the reasons are in results.csv"),
        NextStep(4, "failed", "errors outlasted the retries", "try them again", "bulkpatch run x"),
    ]
    counts = {"updated": 5, "failed": 4, "rejected": 1}
    data = summary_content("run", counts, steps, 1, fields={"shard": None})
    assert data["mode"] == "run"
    assert data["rows"] == 10
    assert data["outcomes"] == {o.value: counts.get(o.value, 0) for o in Outcome}
    assert data["next_steps"] == [s.as_dict() for s in steps]
    assert [r["rows"] for r in data["top_reasons"]] == [4, 1]
    assert data["exit_code"] == 1
    assert data["shard"] is None
    assert json.loads(json.dumps(data)) == data


def test_what_a_command_measured_cannot_override_the_counts_it_came_to() -> None:
    data = summary_content("merge", {"updated": 2}, [], 0, fields={"exit_code": 9, "rows": 7})
    assert (data["exit_code"], data["rows"]) == (0, 2)
