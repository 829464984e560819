"""Leaf rules that real sheets broke: integers are plain digits within the API's range; numbers
are plain decimals; a time zone is an IANA region name (or UTC) whatever the host's tzdata."""

from __future__ import annotations

import zoneinfo
from typing import Any

import pytest

from bulkpatch.core.models import MAX_INT, is_timezone
from bulkpatch.validation import validate_row

KEYS = {"org_id": "org-1", "workspace_id": "ws-1", "campaign_id": "cmp-1"}


def problems_of(column: str, value: Any) -> list[str]:
    verdict = validate_row(3, {**KEYS, column: value})
    return [p.rule for p in verdict.problems]


def changes_of(column: str, value: Any) -> dict[str, Any]:
    verdict = validate_row(3, {**KEYS, column: value})
    assert verdict.change is not None, verdict.problems
    return verdict.change.changes


@pytest.mark.parametrize(
    ("cell", "words"),
    [
        ("9999999999999999999999999", f"must be at most {MAX_INT}"),
        ("2147483648", "must be at most 2147483647"),
        ("1_000", "must be a whole number (digits only, for example 7)"),
        ("7.0", "must be a whole number written with digits only"),
        ("1e3", "must be a whole number written with digits only"),
        ("0x10", "must be a whole number (digits only"),
        ("٣", "must be a whole number (digits only"),  # an Arabic-Indic digit
        ("9" * 5000, f"must be at most {MAX_INT}"),
        (7.5, "must be a whole number, without a fraction"),
        (True, "must be a number, not true/false"),
        (2**40, "must be at most 2147483647"),
    ],
)
def test_an_integer_cell_takes_plain_digits_within_the_apis_range(cell: Any, words: str) -> None:
    rules = problems_of("app_config.app_version", cell)
    assert len(rules) == 1
    assert words in rules[0]


@pytest.mark.parametrize(
    ("cell", "value"), [("7", 7), (" +7 ", 7), (7, 7), (7.0, 7), ("2147483647", MAX_INT)]
)
def test_plain_integers_and_integral_native_numbers_are_accepted(cell: Any, value: int) -> None:
    assert changes_of("app_config.app_version", cell) == {"app_config.app_version": value}


@pytest.mark.parametrize(
    "column",
    [
        "app_config.retry_config.retry_on.short_duration.threshold_seconds",
        "app_config.connection_configs",
    ],
)
def test_every_integer_field_has_the_same_upper_bound(column: str) -> None:
    if column == "app_config.connection_configs":
        cell = '[{"connection_id": "c", "phone_numbers": ["+919812345678"], "weight": 3000000000}]'
    else:
        cell = "3000000000"
    rules = problems_of(column, cell)
    assert any("at most 2147483647" in rule for rule in rules), rules


@pytest.mark.parametrize("cell", ["1_000", "0x10", "2,5", "five"])
def test_a_number_cell_takes_plain_decimals_only(cell: str) -> None:
    assert problems_of("app_config.attempts_per_second", cell) == [
        "must be a number, for example 2.5"
    ]


@pytest.mark.parametrize(
    "name",
    ["localtime", "Factory", "posixrules", "posix/Asia/Kolkata", "right/UTC", "US/Eastern",
     "EST5EDT", "IST", "Asia", "Asia/", "Asia/Nowhere"],
)  # fmt: skip
def test_a_time_zone_that_is_not_an_iana_region_name_is_refused(name: str) -> None:
    [rule] = problems_of("allowed_schedule.timezone", name)
    assert rule.startswith("is not an IANA time zone name")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("Etc/UTC", "write UTC"),
        ("GMT", "write UTC"),
        ("asia/kolkata", "did you mean Asia/Kolkata?"),
    ],
)
def test_near_misses_of_a_time_zone_say_what_to_write(name: str, words: str) -> None:
    [rule] = problems_of("allowed_schedule.timezone", name)
    assert words in rule


@pytest.mark.parametrize(
    "name",
    ["Asia/Kolkata", "UTC", "America/Argentina/Buenos_Aires", "Europe/Amsterdam", "Europe/Kiev"],
)
def test_region_names_and_utc_are_accepted_links_included(name: str) -> None:
    assert changes_of("allowed_schedule.timezone", name) == {"allowed_schedule.timezone": name}


def test_time_zones_do_not_depend_on_the_hosts_tzdata(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zoneinfo, "available_timezones", lambda: {"localtime", "Factory"})
    assert is_timezone("Asia/Kolkata")
    assert not is_timezone("localtime")
    assert not is_timezone("Factory")
