"""``--keys-file FILE``: which API key each org's rows are sent with.

A keys file maps each ``org_id`` to *where* its key is -- the name of an environment variable
(``api_key_env``) or the path of a key file (``api_key_file``) -- and optionally to a rate of
its own (``rate``, requests per second, or ``"unlimited"``).  It never holds a key:

* a field or column named like a secret (``key``, ``api_key``, ``secret``, ``token``,
  ``password``, ...) is refused, and its value is never shown;
* ``api_key_env`` must look like a variable name (``credentials.looks_like_env_name``:
  letters, digits and ``_``, words of at most 15 characters, none mixing upper case, lower
  case and digits), and ``api_key_file`` like a path (it holds a ``/`` or ends in an
  extension such as ``.key``, and no part of it is a run of 24 or more letters, digits,
  ``+``, ``=``, ``_`` or ``-`` mixing letters and digits); a value that fails is refused as
  probably a key, and not shown.

TOML (``.toml``)::

    [orgs.org_acme]
    api_key_env = "ACME_API_KEY"
    rate = 20

    [orgs.org_beta]
    api_key_file = "keys/beta.key"      # relative to the keys file's folder

CSV (``.csv``; a header row; rows whose first cell starts with ``#`` are comments)::

    org_id,api_key_env,api_key_file,rate
    org_acme,ACME_API_KEY,,20
    org_beta,,keys/beta.key,

A keys file that points at key files must be readable by its owner only (``chmod 600``).

Parsing (:func:`parse_keys_toml`, :func:`parse_keys_csv`) is pure; :func:`load_keys_file` reads
the file; :func:`resolve_keys` reads the keys themselves.  A key is held only in memory, in a
:class:`ResolvedKey`, whose ``repr`` does not show it.
"""

from __future__ import annotations

import csv
import io
import math
import re
import shlex
import stat
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import CredentialsError
from bulkpatch.core.models import is_valid_id
from bulkpatch.transport.credentials import (
    check_key,
    decode_text,
    key_fingerprint,
    looks_like_env_name,
    loose_mode,
    read_key_file,
    read_regular_file,
)

#: A keys file larger than this is not a keys file (300 orgs take about 25 KB).
KEYS_FILE_LIMIT = 1024 * 1024
#: Problems listed in one error at most.
PROBLEMS_SHOWN = 20

FIELDS = ("org_id", "api_key_env", "api_key_file", "rate")
_SECRET_WORDS = ("key", "secret", "token", "password", "passwd", "credential", "bearer")
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _.-]{0,39}")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,10}$")
_TOKEN_RUN = re.compile(r"[A-Za-z0-9+=_-]{24,}")


@dataclass(frozen=True, kw_only=True)
class KeyEntry:
    """One org of a keys file: where its key is (exactly one of ``env`` and ``file``)."""

    org_id: str
    env: str | None = None
    file: Path | None = None
    #: Requests per second for this org's key; None: the run's ``--rate``; ``inf``: unlimited.
    rate: float | None = None
    #: Where in the keys file, for messages (``line 3``, ``[orgs.org_acme]``).
    where: str = ""

    @property
    def source(self) -> str:
        """Where the key is, in words (a name or a path: never the key)."""
        if self.env is not None:
            return f"the environment variable {self.env}"
        return f"the key file {self.file}"


@dataclass(frozen=True, kw_only=True)
class ResolvedKey:
    """An org's key, read.  ``repr()`` shows its fingerprint, never the key."""

    org_id: str
    key: str = field(repr=False)
    fingerprint: str
    #: Where it was read from, in words (see :attr:`KeyEntry.source`).
    source: str
    rate: float | None = None
    warnings: tuple[str, ...] = ()


# ----------------------------------------------------------------------------------------------
# Rules for one value
# ----------------------------------------------------------------------------------------------


def looks_like_key_path(text: str) -> bool:
    """True when ``text`` is shaped like a path to a key file, not like a key (see the module's
    rule): it holds a ``/``, starts with ``~`` or ends in an extension, and no part of it is a
    long token mixing letters and digits."""
    if not text or len(text) > 4096 or not text.isprintable():
        return False
    if not ("/" in text or text.startswith("~") or _EXTENSION.search(text)):
        return False
    for run in _TOKEN_RUN.findall(text):
        if any(c.isalpha() for c in run) and any(c.isdigit() for c in run):
            return False
    return True


def _secret_like(name: str) -> bool:
    return any(word in name for word in _SECRET_WORDS) and name not in FIELDS


def _normal_field(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _field_problem(name: str, where: str) -> str:
    """Why a field that is not one of :data:`FIELDS` is refused (its value is never shown)."""
    normal = _normal_field(name)
    plain = _COLUMN_NAME.fullmatch(name) and looks_like_env_name(re.sub(r"[\s.-]+", "_", name))
    shown = f"`{name}`" if plain else "(a name not shown)"
    if normal == "org_id":
        return f"{where}: org_id is the table's own name ([orgs.ORG_ID]); remove the field"
    if _secret_like(normal):
        return (
            f"{where}: field {shown} would hold a key; a keys file never holds a key. Give the "
            "name of an environment variable (api_key_env) or the path of a key file "
            "(api_key_file) instead"
        )
    if shown.startswith("("):
        return (
            f"{where}: a field whose name does not look like a field name {shown}; "
            f"the fields are {', '.join(FIELDS)} (is the header row missing?)"
        )
    return f"{where}: unknown field {shown}; the fields are {', '.join(FIELDS)}"


def _rate(value: Any, where: str, problems: list[str]) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "unlimited":
            return math.inf
        try:
            value = float(text)
        except ValueError:
            problems.append(f"{where}: rate must be a number of requests per second or 'unlimited'")
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where}: rate must be a number of requests per second or 'unlimited'")
        return None
    rate = float(value)
    if not rate > 0 or math.isnan(rate):
        problems.append(f"{where}: rate must be above 0 (for no limit at all, say 'unlimited')")
        return None
    return rate


def _entry(org_id: Any, values: Mapping[str, Any], where: str, problems: list[str]) -> KeyEntry:
    """One entry from its fields (already known to be among :data:`FIELDS`)."""
    count = len(problems)
    if not isinstance(org_id, str) or not is_valid_id(org_id):
        problems.append(
            f"{where}: org_id must be an id (1-128 letters, digits, _ or -); it is not shown"
        )
    env = values.get("api_key_env") or None
    file = values.get("api_key_file") or None
    if env is not None and file is not None:
        problems.append(f"{where}: give api_key_env or api_key_file, not both")
    elif env is None and file is None:
        problems.append(f"{where}: give api_key_env (a variable's name) or api_key_file (a path)")
    if env is not None and not (isinstance(env, str) and looks_like_env_name(env)):
        problems.append(
            f"{where}: api_key_env is not the name of an environment variable (letters, "
            "digits and _, words of at most 15 characters); it may be the key itself, so it is "
            "not shown. Give the variable's NAME"
        )
    if file is not None and not (isinstance(file, str) and looks_like_key_path(file)):
        problems.append(
            f"{where}: api_key_file does not look like a path (it needs a / or an extension "
            "such as .key, and no long letters-and-digits token); it may be the key itself, so "
            "it is not shown. Give the path of the file holding the key"
        )
    rate = _rate(values.get("rate"), where, problems)
    if len(problems) > count:
        return KeyEntry(org_id=str(org_id), where=where)
    return KeyEntry(
        org_id=org_id,
        env=env,
        file=Path(file) if file is not None else None,
        rate=rate,
        where=where,
    )


def _raise(problems: list[str], name: str) -> None:
    if not problems:
        return
    shown = problems[:PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    lines = "\n  ".join(shown) + (f"\n  … and {more} more" if more else "")
    raise CredentialsError(f"{name} cannot be used:\n  {lines}")


def _unique(entries: Iterable[KeyEntry], problems: list[str]) -> list[KeyEntry]:
    seen: dict[str, str] = {}
    kept = []
    for entry in entries:
        if entry.org_id in seen:
            problems.append(
                f"{entry.where}: org {entry.org_id} is already given at {seen[entry.org_id]}"
            )
            continue
        seen[entry.org_id] = entry.where
        kept.append(entry)
    return kept


# ----------------------------------------------------------------------------------------------
# Parsing (pure)
# ----------------------------------------------------------------------------------------------


def parse_keys_toml(text: str, *, name: str = "the keys file") -> list[KeyEntry]:
    """The entries of a TOML keys file (``[orgs.ORG_ID]`` tables); :class:`CredentialsError`
    listing every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CredentialsError(f"{name} is not valid TOML ({exc}); fix it") from None
    problems: list[str] = []
    for top in data:
        if top != "orgs":
            problems.append(_field_problem(top, "top level"))
    orgs = data.get("orgs")
    if not isinstance(orgs, dict) or not orgs:
        problems.append(
            "it names no org: give one [orgs.ORG_ID] table per org, with api_key_env or "
            "api_key_file"
        )
        orgs = {}
    entries = []
    for org_id, values in orgs.items():
        where = f"[orgs.{org_id}]" if is_valid_id(org_id) else "an [orgs] table"
        if not isinstance(values, dict):
            problems.append(f"{where}: must be a table with api_key_env or api_key_file")
            continue
        unknown = [k for k in values if k not in FIELDS[1:]]
        problems.extend(_field_problem(k, where) for k in unknown)
        if unknown:
            continue
        entries.append(_entry(org_id, values, where, problems))
    _raise(problems, name)
    return entries


def parse_keys_csv(text: str, *, name: str = "the keys file") -> list[KeyEntry]:
    """The entries of a CSV keys file (a header row naming the columns of :data:`FIELDS`);
    :class:`CredentialsError` listing every problem found."""
    reader = csv.reader(io.StringIO(text, newline=""))
    problems: list[str] = []
    header: list[str] | None = None
    entries = []
    try:
        for row in reader:
            cells = [cell.strip() for cell in row]
            if not any(cells) or cells[0].startswith("#"):
                continue
            where = f"line {reader.line_num}"
            if header is None:
                header = [_normal_field(cell) for cell in cells]
                for raw, normal in zip(cells, header, strict=True):
                    if normal not in FIELDS:
                        problems.append(_field_problem(raw, f"{where} (the header)"))
                if "org_id" not in header:
                    problems.append(f"{where} (the header): it has no org_id column")
                if problems:
                    break
                continue
            if len(cells) > len(header):
                problems.append(
                    f"{where}: {len(cells)} cells for {len(header)} columns (not shown: a value "
                    "may be a key); quote a value that holds a comma"
                )
                continue
            values = dict(zip(header, cells, strict=False))
            entries.append(_entry(values.get("org_id", ""), values, where, problems))
    except csv.Error as exc:
        problems.append(f"line {reader.line_num}: not valid CSV ({exc})")
    if header is None and not problems:
        problems.append("it is empty: give a header row (org_id,api_key_env,api_key_file,rate)")
    elif header is not None and not entries and not problems:
        problems.append("it names no org: add one row per org under the header")
    entries = _unique(entries, problems)
    _raise(problems, name)
    return entries


# ----------------------------------------------------------------------------------------------
# I/O
# ----------------------------------------------------------------------------------------------


def load_keys_file(path: Path) -> list[KeyEntry]:
    """The entries of the keys file at ``path`` (``.toml`` or ``.csv``), key file paths made
    absolute (a relative one is taken from the keys file's folder).

    Refused: a file that is not a small regular UTF-8 file, that does not parse, or that points
    at key files while group or others may read or write it.
    """
    name = f"the keys file {path}"
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".csv"):
        raise CredentialsError(
            f"{name} must be a .toml or a .csv file (its name tells which); rename it"
        )
    data, st = read_regular_file(path, KEYS_FILE_LIMIT, what=name)
    text = decode_text(data, what=name)
    parse = parse_keys_toml if suffix == ".toml" else parse_keys_csv
    entries = [_absolute(entry, path.parent) for entry in parse(text, name=name)]
    loose = loose_mode(st.st_mode)
    if loose and any(entry.file is not None for entry in entries):
        raise CredentialsError(
            f"{name} points at key files and can be {loose} (mode "
            f"{stat.S_IMODE(st.st_mode):04o}); run `chmod 600 {shlex.quote(str(path))}`"
        )
    return entries


def _absolute(entry: KeyEntry, folder: Path) -> KeyEntry:
    if entry.file is None:
        return entry
    file = entry.file.expanduser()
    if not file.is_absolute():
        file = folder / file
    return KeyEntry(org_id=entry.org_id, file=file, rate=entry.rate, where=entry.where)


def resolve_keys(entries: Iterable[KeyEntry], environ: Mapping[str, str]) -> dict[str, ResolvedKey]:
    """Every org's key, read from the environment or its file: ``org_id`` -> :class:`ResolvedKey`.

    All are read before anything is sent; :class:`CredentialsError` lists every key that
    cannot be read (by org and source, never by value).  Orgs sharing one key get a warning.
    """
    entries = list(entries)
    problems: list[str] = []
    found: dict[str, tuple[KeyEntry, str, list[str]]] = {}
    for entry in entries:
        try:
            if entry.env is not None:
                value = environ.get(entry.env, "").strip()
                if not value:
                    raise CredentialsError(
                        f"the environment variable {entry.env} is not set or is empty"
                    )
                key = check_key(value, f"the environment variable {entry.env}")
                warnings: list[str] = []
            elif entry.file is not None:
                key, warnings = read_key_file(entry.file)
            else:
                raise CredentialsError("no key source given")
        except CredentialsError as exc:
            problems.append(f"org {entry.org_id} ({entry.where}): {exc}")
            continue
        found[entry.org_id] = (entry, key, warnings)
    _raise(problems, f"{len(problems)} of {len(entries)} keys")
    by_key: dict[str, list[str]] = {}
    for org_id, (_, key, _) in found.items():
        by_key.setdefault(key, []).append(org_id)
    resolved = {}
    for org_id, (entry, key, warnings) in found.items():
        fingerprint = key_fingerprint(key)
        sharing = by_key[key]
        if len(sharing) > 1:
            warnings = [
                *warnings,
                f"orgs {', '.join(sharing)} use the same key ({fingerprint}); a limit the API "
                "keeps per key is shared by all of them",
            ]
        resolved[org_id] = ResolvedKey(
            org_id=org_id,
            key=key,
            fingerprint=fingerprint,
            source=entry.source,
            rate=entry.rate,
            warnings=tuple(warnings),
        )
    return resolved
