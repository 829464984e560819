"""--keys-file: which key each org's rows are sent with (bulkpatch.transport.keysfile)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from bulkpatch.core.errors import CredentialsError
from bulkpatch.transport.credentials import key_fingerprint
from bulkpatch.transport.keysfile import (
    KeyEntry,
    ResolvedKey,
    load_keys_file,
    looks_like_key_path,
    parse_keys_csv,
    parse_keys_toml,
    resolve_keys,
)

ACME_KEY = "sk_test_acme_0001fake"
BETA_KEY = "sk_test_beta_0002fake"
LOOKS_LIKE_A_KEY = "sk_live_4eC39HqLyjWDarjtT1zdp7dc"

TOML = """
[orgs.org_acme]
api_key_env = "ACME_API_KEY"
rate = 20

[orgs.org-beta]
api_key_file = "keys/beta.key"

[orgs.org_gamma]
api_key_env = "GAMMA_API_KEY"
rate = "unlimited"
"""

CSV = """org_id,api_key_env,api_key_file,rate
# org_old,OLD_KEY,,
org_acme,ACME_API_KEY,,20
org-beta,,keys/beta.key,

org_gamma,GAMMA_API_KEY,,unlimited
"""

EXPECTED = [
    KeyEntry(org_id="org_acme", env="ACME_API_KEY", rate=20.0),
    KeyEntry(org_id="org-beta", file=Path("keys/beta.key")),
    KeyEntry(org_id="org_gamma", env="GAMMA_API_KEY", rate=math.inf),
]


def strip_where(entries: list[KeyEntry]) -> list[KeyEntry]:
    return [KeyEntry(org_id=e.org_id, env=e.env, file=e.file, rate=e.rate) for e in entries]


def test_a_toml_keys_file_maps_each_org_to_a_variable_or_a_file_and_a_rate() -> None:
    entries = parse_keys_toml(TOML)
    assert strip_where(entries) == EXPECTED
    assert entries[0].where == "[orgs.org_acme]"


def test_a_csv_keys_file_says_the_same_as_the_toml_one_and_skips_comments_and_blanks() -> None:
    entries = parse_keys_csv(CSV)
    assert strip_where(entries) == EXPECTED
    assert [e.where for e in entries] == ["line 3", "line 4", "line 6"]


def test_a_csv_header_is_read_regardless_of_case_and_spaces() -> None:
    entries = parse_keys_csv("Org ID , API key env\norg_acme,ACME_API_KEY\n".replace(" ID", "_id"))
    assert strip_where(entries) == [KeyEntry(org_id="org_acme", env="ACME_API_KEY")]


@pytest.mark.parametrize("field", ["key", "api_key", "API-Key", "secret", "token", "password"])
def test_a_field_that_would_hold_a_key_is_refused_and_its_value_never_shown(field: str) -> None:
    toml = f'[orgs.org_acme]\n{field.replace("-", "_")} = "{LOOKS_LIKE_A_KEY}"\n'
    with pytest.raises(CredentialsError, match="a keys file never holds a key") as info:
        parse_keys_toml(toml)
    assert LOOKS_LIKE_A_KEY not in str(info.value)
    csv_text = f"org_id,{field}\norg_acme,{LOOKS_LIKE_A_KEY}\n"
    with pytest.raises(CredentialsError, match="a keys file never holds a key") as info:
        parse_keys_csv(csv_text)
    assert LOOKS_LIKE_A_KEY not in str(info.value)


def test_a_top_level_key_in_toml_is_refused_unshown() -> None:
    with pytest.raises(CredentialsError, match="never holds a key") as info:
        parse_keys_toml(f'api_key = "{LOOKS_LIKE_A_KEY}"\n[orgs.a]\napi_key_env = "A_KEY"\n')
    assert LOOKS_LIKE_A_KEY not in str(info.value)


def test_a_key_given_where_a_variable_name_belongs_is_refused_unshown() -> None:
    for parse, text in (
        (parse_keys_toml, f'[orgs.org_acme]\napi_key_env = "{LOOKS_LIKE_A_KEY}"\n'),
        (parse_keys_csv, f"org_id,api_key_env\norg_acme,{LOOKS_LIKE_A_KEY}\n"),
    ):
        with pytest.raises(CredentialsError, match="it may be the key itself") as info:
            parse(text)
        assert LOOKS_LIKE_A_KEY not in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        LOOKS_LIKE_A_KEY,  # a bare token: no / and no extension
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N",  # a JWT
        "keys/" + LOOKS_LIKE_A_KEY,  # a token with a folder in front
        "abc",
    ],
)
def test_a_key_given_where_a_path_belongs_is_refused_unshown(value: str) -> None:
    assert not looks_like_key_path(value)
    with pytest.raises(CredentialsError, match="does not look like a path") as info:
        parse_keys_csv(f"org_id,api_key_file\norg_acme,{value}\n")
    assert value not in str(info.value)


@pytest.mark.parametrize(
    "path",
    [
        "/run/secrets/acme.key",
        "keys/beta.key",
        "beta.key",
        "~/keys/org_acme_production",
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "./acme_production_2024.txt",
    ],
)
def test_paths_pass_the_path_rule(path: str) -> None:
    assert looks_like_key_path(path)


def test_a_headerless_csv_does_not_show_a_key_from_its_first_row() -> None:
    with pytest.raises(CredentialsError, match="is the header row missing") as info:
        parse_keys_csv(f"org_acme,{LOOKS_LIKE_A_KEY}\n")
    assert LOOKS_LIKE_A_KEY not in str(info.value)


def test_a_row_with_more_cells_than_columns_is_refused_unshown() -> None:
    with pytest.raises(CredentialsError, match="3 cells for 2 columns") as info:
        parse_keys_csv(f"org_id,api_key_env\norg_acme,ACME_KEY,{LOOKS_LIKE_A_KEY}\n")
    assert LOOKS_LIKE_A_KEY not in str(info.value)


def test_every_problem_is_listed_with_where_it_is() -> None:
    text = (
        "org_id,api_key_env,api_key_file,rate\n"
        "org_a,A_KEY,a.key,\n"
        "org_b,,,\n"
        "org/c,C_KEY,,\n"
        "org_d,D_KEY,,0\n"
        "org_e,E_KEY,,fast\n"
        "org_a,A2_KEY,,\n"
    )
    with pytest.raises(CredentialsError) as info:
        parse_keys_csv(text, name="the keys file k.csv")
    assert str(info.value).splitlines() == [
        "the keys file k.csv cannot be used:",
        "  line 2: give api_key_env or api_key_file, not both",
        "  line 3: give api_key_env (a variable's name) or api_key_file (a path)",
        "  line 4: org_id must be an id (1-128 letters, digits, _ or -); it is not shown",
        "  line 5: rate must be above 0 (for no limit at all, say 'unlimited')",
        "  line 6: rate must be a number of requests per second or 'unlimited'",
        "  line 7: org org_a is already given at line 2",
    ]


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("", "it names no org"),
        ("[orgs]\n", "it names no org"),
        ("[orgs.a]\napi_key_env = 'A_KEY'\nrate = true\n", "rate must be a number"),
        ("[orgs.a]\norg_id = 'a'\napi_key_env = 'A_KEY'\n", "org_id is the table's own name"),
        ("[orgs.a]\napi_key_env = 'A_KEY'\nratee = 5\n", "unknown field `ratee`"),
        ("[orgs\n", "is not valid TOML"),
        ("orgs = 5\n", "it names no org"),
    ],
)
def test_a_wrong_toml_keys_file_says_what_is_wrong(text: str, cause: str) -> None:
    with pytest.raises(CredentialsError, match=cause):
        parse_keys_toml(text)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("", "it is empty"),
        ("org_id,api_key_env\n", "it names no org"),
        ("api_key_env\nA_KEY\n", "it has no org_id column"),
        ("org_id,api_key_env,rat\n", "unknown field `rat`"),
    ],
)
def test_a_wrong_csv_keys_file_says_what_is_wrong(text: str, cause: str) -> None:
    with pytest.raises(CredentialsError, match=cause):
        parse_keys_csv(text)


# ----------------------------------------------------------------------------------------------
# The file and the keys
# ----------------------------------------------------------------------------------------------


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_load_reads_toml_or_csv_by_extension_and_makes_key_paths_absolute(
    tmp_path: Path,
) -> None:
    for name, text in (("keys.toml", TOML), ("keys.CSV", CSV)):
        entries = load_keys_file(write(tmp_path / name, text))
        assert entries[1].file == tmp_path / "keys" / "beta.key"
        assert [e.org_id for e in entries] == ["org_acme", "org-beta", "org_gamma"]


def test_a_keys_file_of_another_kind_is_refused_by_its_name(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"must be a \.toml or a \.csv file"):
        load_keys_file(write(tmp_path / "keys.yaml", TOML))


def test_a_readable_keys_file_pointing_at_key_files_is_refused_with_chmod_600(
    tmp_path: Path,
) -> None:
    path = write(tmp_path / "keys.toml", TOML, 0o644)
    with pytest.raises(CredentialsError) as info:
        load_keys_file(path)
    assert "points at key files and can be read by group and others (mode 0644)" in str(info.value)
    assert f"`chmod 600 {path}`" in str(info.value)


def test_a_readable_keys_file_naming_only_variables_is_accepted(tmp_path: Path) -> None:
    # Names of variables are no secret: a ConfigMap mounts its files 0644.
    text = "[orgs.a]\napi_key_env = 'A_KEY'\n"
    assert load_keys_file(write(tmp_path / "keys.toml", text, 0o644))[0].env == "A_KEY"


def test_a_keys_file_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keys.toml").mkdir()
    with pytest.raises(CredentialsError, match="is a directory"):
        load_keys_file(tmp_path / "keys.toml")


def test_resolve_reads_every_key_and_holds_it_only_in_memory(tmp_path: Path) -> None:
    write(tmp_path / "keys" / "beta.key", BETA_KEY + "\n")
    entries = load_keys_file(write(tmp_path / "keys.toml", TOML))
    environ = {"ACME_API_KEY": ACME_KEY, "GAMMA_API_KEY": " sk_test_gamma_3 \n"}
    keys = resolve_keys(entries, environ)
    assert keys["org_acme"] == ResolvedKey(
        org_id="org_acme",
        key=ACME_KEY,
        fingerprint=key_fingerprint(ACME_KEY),
        source="the environment variable ACME_API_KEY",
        rate=20.0,
    )
    assert keys["org-beta"].key == BETA_KEY
    assert keys["org-beta"].source == f"the key file {tmp_path / 'keys' / 'beta.key'}"
    assert keys["org_gamma"].key == "sk_test_gamma_3"
    assert keys["org_gamma"].rate == math.inf
    shown = repr(keys) + str(keys) + str(list(keys.values()))
    for key in (ACME_KEY, BETA_KEY, "sk_test_gamma_3"):
        assert key not in shown
    assert key_fingerprint(ACME_KEY) in shown


def test_resolve_lists_every_key_it_cannot_read_by_org_and_source(tmp_path: Path) -> None:
    entries = [
        KeyEntry(org_id="org_a", env="A_KEY", where="line 2"),
        KeyEntry(org_id="org_b", env="B_KEY", where="line 3"),
        KeyEntry(org_id="org_c", file=tmp_path / "c.key", where="line 4"),
        KeyEntry(org_id="org_d", env="D_KEY", where="line 5"),
    ]
    with pytest.raises(CredentialsError) as info:
        resolve_keys(entries, {"A_KEY": ACME_KEY, "D_KEY": "sk bad key"})
    lines = str(info.value).splitlines()
    assert lines[0] == "3 of 4 keys cannot be used:"
    assert lines[1] == (
        "  org org_b (line 3): the environment variable B_KEY is not set or is empty"
    )
    assert lines[2].startswith(f"  org org_c (line 4): the API key file {tmp_path / 'c.key'} ")
    assert lines[3].startswith("  org org_d (line 5): the environment variable D_KEY holds a space")
    assert "sk bad key" not in str(info.value)


def test_resolve_passes_on_the_warnings_of_a_readable_key_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.key", ACME_KEY, 0o644)
    keys = resolve_keys([KeyEntry(org_id="org_a", file=path)], {})
    assert len(keys["org_a"].warnings) == 1
    assert "chmod 600" in keys["org_a"].warnings[0]


def test_orgs_sharing_one_key_are_warned_that_a_per_key_limit_is_shared() -> None:
    entries = [
        KeyEntry(org_id="org_a", env="A_KEY"),
        KeyEntry(org_id="org_b", env="B_KEY"),
        KeyEntry(org_id="org_c", env="C_KEY"),
    ]
    keys = resolve_keys(entries, {"A_KEY": ACME_KEY, "B_KEY": ACME_KEY, "C_KEY": BETA_KEY})
    assert keys["org_a"].warnings == keys["org_b"].warnings
    assert keys["org_a"].warnings == (
        f"orgs org_a, org_b use the same key ({key_fingerprint(ACME_KEY)}); a limit the API "
        "keeps per key is shared by all of them",
    )
    assert keys["org_c"].warnings == ()
