"""The hot path's JSON reads and writes what the standard library reads and writes."""

from __future__ import annotations

import datetime
import json
import math

from hypothesis import given
from hypothesis import strategies as st

from bulkpatch.core import jsontext

#: JSON values (finite floats: NaN is not JSON), with text in every plane, keys included.
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_what_dumps_writes_reads_back_as_the_standard_librarys_text_does(value: object) -> None:
    ours = jsontext.dumps(value)
    theirs = json.dumps(value, separators=(",", ":"), default=str)
    assert json.loads(ours) == json.loads(theirs)
    assert jsontext.loads(ours) == json.loads(theirs)


@given(JSON_VALUES)
def test_loads_reads_every_text_the_standard_library_writes_to_the_same_value(
    value: object,
) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert jsontext.loads(text) == json.loads(text)
        assert jsontext.loads(text.encode()) == json.loads(text)


def test_texts_only_the_standard_library_reads_are_still_read() -> None:
    big = '{"id": 123456789012345678901234567890, "x": NaN, "s": "\\ud800"}'
    got = jsontext.loads(big)
    assert got["id"] == 123456789012345678901234567890
    assert math.isnan(got["x"])
    assert got["s"] == "\ud800"


def test_a_text_that_is_not_json_raises_a_value_error() -> None:
    for text in ("{", "nope", '{"a": 1,}', ""):
        try:
            jsontext.loads(text)
        except ValueError:
            continue
        raise AssertionError(f"{text!r} was read")


def test_values_json_gives_to_default_str_are_written_as_their_str() -> None:
    when = datetime.datetime(2026, 12, 7, 15, 0, tzinfo=datetime.UTC)
    assert (
        jsontext.dumps({"at": when, 1: "one"})
        == json.dumps({"at": when, 1: "one"}, separators=(",", ":"), default=str).encode()
    )


def test_text_is_written_as_utf_8_not_as_escapes() -> None:
    assert jsontext.dumps({"name": "Café ☎"}) == '{"name":"Café ☎"}'.encode()


def test_an_integer_beyond_64_bits_is_read_as_that_integer_not_a_float() -> None:
    for number in (2**64, -(2**63) - 1, 123456789012345678901234567890):
        got = jsontext.loads(f'{{"id": {number}}}')["id"]
        assert got == number
        assert isinstance(got, int)
        assert jsontext.loads(f"[{number}]".encode()) == [number]
