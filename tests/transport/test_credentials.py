"""Reading an API key from a file or the environment (bulkpatch.transport.credentials)."""

from __future__ import annotations

import os
import re
import string
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulkpatch.core.errors import CredentialsError, UsageError
from bulkpatch.transport.credentials import (
    DEFAULT_KEY_ENV,
    KEY_FILE_LIMIT,
    check_key,
    key_fingerprint,
    key_from_env,
    load_key,
    looks_like_env_name,
    read_key_file,
)

KEY = "sk_test_Zx81fakeKEYfor-tests.only"


def key_file(tmp_path: Path, content: bytes | str, mode: int = 0o600) -> Path:
    path = tmp_path / "api.key"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)
    return path


def test_the_key_is_the_first_non_empty_line_with_spaces_and_line_ends_dropped(
    tmp_path: Path,
) -> None:
    path = key_file(tmp_path, f"\r\n  \n  {KEY}  \r\n")
    assert read_key_file(path) == (KEY, [])


def test_a_leading_utf8_bom_is_dropped(tmp_path: Path) -> None:
    path = key_file(tmp_path, b"\xef\xbb\xbf" + KEY.encode() + b"\n")
    assert read_key_file(path) == (KEY, [])


def test_a_bom_inside_the_key_line_is_named_as_the_cause(tmp_path: Path) -> None:
    path = key_file(tmp_path, b"\xef\xbb\xbf\xef\xbb\xbf" + KEY.encode())
    with pytest.raises(CredentialsError, match="byte-order mark") as info:
        read_key_file(path)
    assert KEY not in str(info.value)


def test_a_utf16_file_is_refused_naming_utf16(tmp_path: Path) -> None:
    path = key_file(tmp_path, KEY.encode("utf-16"))
    with pytest.raises(CredentialsError, match="UTF-16"):
        read_key_file(path)


def test_bytes_that_are_not_utf8_are_refused_saying_so(tmp_path: Path) -> None:
    path = key_file(tmp_path, b"\xff\xfdabc")
    with pytest.raises(CredentialsError, match="not UTF-8"):
        read_key_file(path)


def test_dev_zero_is_refused_at_once_as_a_device() -> None:
    started = time.monotonic()
    with pytest.raises(CredentialsError, match="is a device, not a regular file"):
        read_key_file(Path("/dev/zero"))
    assert time.monotonic() - started < 1.0


def test_a_huge_file_is_refused_by_its_size_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.key"
    with path.open("wb") as f:
        f.truncate(8 * 1024**3)  # sparse: 8 GiB that take no room
    path.chmod(0o600)
    started = time.monotonic()
    with pytest.raises(CredentialsError, match=f"larger than {KEY_FILE_LIMIT:,} bytes"):
        read_key_file(path)
    assert time.monotonic() - started < 1.0


def test_a_file_one_byte_over_the_bound_is_refused_and_one_at_the_bound_is_read(
    tmp_path: Path,
) -> None:
    at_bound = key_file(tmp_path, KEY + "\n" * (KEY_FILE_LIMIT - len(KEY)))
    assert read_key_file(at_bound)[0] == KEY
    over = key_file(tmp_path, KEY + "\n" * (KEY_FILE_LIMIT + 1 - len(KEY)))
    with pytest.raises(CredentialsError, match="larger than"):
        read_key_file(over)


def test_a_fifo_is_refused_without_hanging(tmp_path: Path) -> None:
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(CredentialsError, match=r"named pipe \(FIFO\), not a regular file"):
        read_key_file(fifo)
    assert time.monotonic() - started < 1.0


def test_a_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="is a directory"):
        read_key_file(tmp_path)


def test_a_missing_file_says_it_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="does not exist"):
        read_key_file(tmp_path / "nope.key")


def test_a_symlink_to_a_key_file_is_followed(tmp_path: Path) -> None:
    # Kubernetes mounts a Secret's files as symlinks.
    target = key_file(tmp_path, KEY)
    link = tmp_path / "link.key"
    link.symlink_to(target)
    assert read_key_file(link) == (KEY, [])


@pytest.mark.parametrize(
    ("mode", "who"),
    [
        (0o640, "read by group"),
        (0o604, "read by others"),
        (0o644, "read by group and others"),
        (0o620, "written by group"),
        (0o666, "read or written by group and others"),
    ],
)
def test_a_file_that_group_or_others_may_use_gives_a_warning_with_chmod_600(
    tmp_path: Path, mode: int, who: str
) -> None:
    path = key_file(tmp_path, KEY, mode)
    key, warnings = read_key_file(path)
    assert key == KEY
    assert len(warnings) == 1
    assert who in warnings[0]
    assert f"`chmod 600 {path}`" in warnings[0]
    assert f"mode {mode:04o}" in warnings[0]


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_file_only_its_owner_may_use_gives_no_warning(tmp_path: Path, mode: int) -> None:
    assert read_key_file(key_file(tmp_path, KEY, mode)) == (KEY, [])


def test_lines_after_the_key_are_ignored_with_a_warning(tmp_path: Path) -> None:
    key, warnings = read_key_file(key_file(tmp_path, f"{KEY}\nsk_old_key\n\n"))
    assert key == KEY
    assert warnings == [
        f"the API key file {tmp_path / 'api.key'} holds 1 more non-empty line(s) after the "
        "key; only the first line is used"
    ]


@pytest.mark.parametrize("content", ["", "\n\n  \r\n", "\ufeff"])
def test_an_empty_file_is_refused(tmp_path: Path, content: str) -> None:
    with pytest.raises(CredentialsError, match="is empty"):
        read_key_file(key_file(tmp_path, content))


@pytest.mark.parametrize(
    ("key", "cause"),
    [
        ("sk_abc def", "a space, a control character or a non-ASCII character"),
        ("sk_abc\x1bdef", "a space, a control character or a non-ASCII character"),
        ("sk_abcdéf", "a space, a control character or a non-ASCII character"),
        ('"sk_abcdef"', "wrapped in quotes"),
        ("'sk_abcdef'", "wrapped in quotes"),
        ("SARVAM_API_KEY=sk_abcdef", "NAME=value line"),
        ("export SARVAM_API_KEY=sk_abcdef", "NAME=value line"),
        ("x" * 1025, "more than any API key"),
    ],
)
def test_a_key_a_header_cannot_carry_is_refused_without_quoting_it(key: str, cause: str) -> None:
    with pytest.raises(CredentialsError, match=cause) as info:
        check_key(key, "the first line of k.txt")
    message = str(info.value)
    assert message.startswith("the first line of k.txt ")
    assert "sk_abc" not in message
    assert "x" * 50 not in message


def test_a_refused_key_is_a_usage_error() -> None:
    assert issubclass(CredentialsError, UsageError)


@given(st.text(alphabet=[chr(c) for c in range(33, 127)], min_size=1, max_size=200))
def test_every_printable_ascii_key_passes_unless_quoted_or_an_assignment(key: str) -> None:
    quoted = len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'"
    assignment = bool(re.match(r"(?i)^[a-z_][a-z0-9_]*(key|token|secret)\s*[=:]", key))
    if quoted or assignment:
        with pytest.raises(CredentialsError, match=r"wrapped in quotes|NAME=value"):
            check_key(key, "k")
    else:
        assert check_key(key, "k") == key


@given(
    st.text(min_size=1, max_size=80).filter(
        lambda k: any(not 33 <= ord(c) <= 126 for c in k) and len(k.strip()) > 3
    )
)
def test_a_key_with_any_character_outside_printable_ascii_is_refused_unquoted(key: str) -> None:
    with pytest.raises(CredentialsError) as info:
        check_key(key, "the environment variable K")
    assert key not in str(info.value)


def test_key_from_env_reads_the_variable_with_spaces_around_dropped() -> None:
    assert key_from_env("SARVAM_API_KEY", {"SARVAM_API_KEY": f"  {KEY}\n"}) == KEY


@pytest.mark.parametrize("environ", [{}, {"SARVAM_API_KEY": ""}, {"SARVAM_API_KEY": "  \n"}])
def test_key_from_env_says_how_to_fix_an_unset_or_empty_variable(environ: dict[str, str]) -> None:
    with pytest.raises(CredentialsError) as info:
        key_from_env("SARVAM_API_KEY", environ)
    message = str(info.value)
    assert "environment variable SARVAM_API_KEY is not set or is empty" in message
    assert "--api-key-file" in message
    assert "--simulate" in message


def test_key_from_env_refuses_a_key_given_as_the_name_without_quoting_it() -> None:
    with pytest.raises(CredentialsError, match="may be the key itself") as info:
        key_from_env(KEY, {KEY: "x"})
    assert KEY not in str(info.value)


@pytest.mark.parametrize(
    "name",
    [
        "SARVAM_API_KEY",
        "ACME_KEY_2024",
        "org_acme_key",
        "K",
        "_PRIVATE",
        "ORG7_KEY",
        "HttpProxy",
        "PROD2024_KEY",
        "KEY_20261201",
    ],
)
def test_names_of_environment_variables_pass_the_name_rule(name: str) -> None:
    assert looks_like_env_name(name)


@pytest.mark.parametrize(
    "text",
    [
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",  # a word over 15 characters
        "0F3A9C2B7D1E4F6A8B0C2D4E6F8A0B1C",  # hex
        "aB3dE5fG",  # one word mixing upper case, lower case and digits
        "FAKEKEYAAAA1111",  # letters and digits, long: a token
        "ORG_7F3A9C2B7D1E",
        "abc-def",  # not a name at all
        "1ABC",
        "A" * 65,
        "",
    ],
)
def test_key_shaped_text_fails_the_name_rule(text: str) -> None:
    assert not looks_like_env_name(text)


def test_a_fingerprint_is_short_stable_distinct_and_holds_nothing_of_the_key() -> None:
    tag = key_fingerprint(KEY)
    assert tag == key_fingerprint(KEY)
    assert tag != key_fingerprint(KEY + "x")
    assert tag.startswith("key-")
    assert len(tag) == 16
    assert set(tag[4:]) <= set(string.hexdigits.lower())
    assert KEY[:6] not in tag


def test_load_key_reads_the_file_when_given_and_the_environment_otherwise(
    tmp_path: Path,
) -> None:
    path = key_file(tmp_path, "sk_from_file")
    environ = {DEFAULT_KEY_ENV: "sk_from_env"}
    assert load_key(env_name=DEFAULT_KEY_ENV, file=path, environ=environ) == ("sk_from_file", [])
    assert load_key(env_name=DEFAULT_KEY_ENV, file=None, environ=environ) == ("sk_from_env", [])
