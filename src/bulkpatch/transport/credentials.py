"""Reading an API key: the one place that does it.

A key comes from an environment variable (:func:`key_from_env`) or from the first non-empty
line of a small file (:func:`read_key_file`); there is never a flag for the key itself.  Every
key is checked to be sendable in an HTTP header (printable ASCII 33-126) and no message ever
quotes it; :func:`key_fingerprint` names a key in messages and file names instead.

Files are read with a bound (:data:`KEY_FILE_LIMIT`): a huge file or ``/dev/zero`` is refused
at once, and anything that is not a regular file (a FIFO, a device, a directory) is refused
without being read, so a path can never make bulkpatch hang or run out of memory.

:func:`looks_like_env_name` is the rule that tells the *name* of an environment variable from
a key pasted where a name belongs; it is used for ``--api-key-env`` and for keys files.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import stat
from collections.abc import Mapping
from pathlib import Path

from bulkpatch.core.errors import CredentialsError
from bulkpatch.core.events import EventSink, Notice, ignore
from bulkpatch.core.options import RunOptions

#: The environment variable a key is read from unless told otherwise.
DEFAULT_KEY_ENV = "SARVAM_API_KEY"
#: A key file holds one key; anything larger is not a key file.
KEY_FILE_LIMIT = 4096
#: The longest key accepted (an HTTP header line has room for much more; a key is far shorter).
KEY_MAX_LENGTH = 1024

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_ENV_WORD_MAX = 15
_ASSIGNMENT = re.compile(r"(?i)^(export\s+)?[a-z_][a-z0-9_]*(key|token|secret)\s*[=:]")


#: A word of a name that mixes letters and digits is at most this long minus one.
_MIXED_WORD_MAX = 10


def key_fingerprint(key: str) -> str:
    """A short tag naming a key in messages and file names, never the key: ``key-`` and 12 hex
    digits of a SHA-256 over the key (with a prefix of its own, so it matches no other tool's
    plain hash of the same key).  48 bits tell 300 keys apart and reveal nothing of a key."""
    digest = hashlib.sha256(b"bulkpatch key fingerprint\x00" + key.encode("utf-8")).hexdigest()
    return f"key-{digest[:12]}"


def looks_like_env_name(text: str) -> bool:
    """True when ``text`` can be the name of an environment variable and not a key.

    A name is letters, digits and ``_`` (not starting with a digit), at most 64 characters,
    made of words (the parts between ``_``) of at most 15 characters, none of which mixes upper
    case, lower case and digits, nor letters and digits over 9 characters (``FAKEKEYAAAA1111``).
    ``SARVAM_API_KEY``, ``ACME_KEY_2024``, ``org_acme_key`` pass; a random token
    (``sk_live_4eC39HqLyjWDarjt``, a 32-digit hex string) does not, so a key given where a name
    belongs is refused, and never printed in the message about it.
    """
    if not _ENV_NAME.fullmatch(text):
        return False
    for word in text.split("_"):
        if len(word) > _ENV_WORD_MAX:
            return False
        cases = (str.isupper, str.islower, str.isdigit)
        if all(any(test(c) for c in word) for test in cases):
            return False
        if len(word) >= _MIXED_WORD_MAX and any(c.isdigit() for c in word) and not word.isdigit():
            return False  # a long run of letters and digits reads as a token, not a word
    return True


def check_env_name(name: str, what: str) -> str:
    """``name`` if it passes :func:`looks_like_env_name`; else :class:`CredentialsError`
    (which does not quote it: it may be a key)."""
    if looks_like_env_name(name):
        return name
    raise CredentialsError(
        f"{what} is not the name of an environment variable (letters, digits and _, words of "
        "at most 15 characters); it may be the key itself, so it is not shown. Put the key in "
        "an environment variable and give that variable's NAME"
    )


def check_key(key: str, where: str) -> str:
    """``key`` if an HTTP header can carry it; else :class:`CredentialsError` saying what is
    wrong and how to fix it.  The message names ``where`` the key came from, never the key."""
    if not key:
        raise CredentialsError(f"{where} is empty; it must hold the API key")
    if "\ufeff" in key:
        raise CredentialsError(
            f"{where} holds a byte-order mark (an invisible U+FEFF character, left by an editor "
            "or by joining files) inside the key; remove it, or save the key again as plain text"
        )
    if len(key) >= 2 and key[0] == key[-1] and key[0] in "\"'":
        raise CredentialsError(
            f"{where} has the key wrapped in quotes; remove the quotes (they would be sent as "
            "part of the key)"
        )
    if _ASSIGNMENT.match(key):
        raise CredentialsError(
            f"{where} looks like a NAME=value line (as in a .env file); it must hold only the "
            "key itself, with nothing before it"
        )
    bad = next((i for i, c in enumerate(key) if not 33 <= ord(c) <= 126), None)
    if bad is not None:
        raise CredentialsError(
            f"{where} holds a space, a control character or a non-ASCII character (at "
            f"character {bad + 1} of {len(key)}); an HTTP header cannot carry it. Check for a "
            "stray space, quote or paste"
        )
    if len(key) > KEY_MAX_LENGTH:
        raise CredentialsError(
            f"{where} holds {len(key):,} characters, more than any API key "
            f"({KEY_MAX_LENGTH:,} at most); check that it holds only the key"
        )
    return key


def key_from_env(name: str, environ: Mapping[str, str]) -> str:
    """The key held by the environment variable ``name`` (spaces and line breaks around it
    dropped); :class:`CredentialsError` when it is unset, empty or not sendable."""
    check_env_name(name, "the name given for the API key's environment variable")
    value = environ.get(name, "").strip()
    if not value:
        raise CredentialsError(
            f"no API key: the environment variable {name} is not set or is empty. Set it to the "
            "key (or name another with --api-key-env NAME, or give --api-key-file PATH); to try "
            "bulkpatch without a key, use --simulate"
        )
    return check_key(value, f"the environment variable {name}")


def read_key_file(path: Path) -> tuple[str, list[str]]:
    """The key on the first non-empty line of the file at ``path``, and warnings to show.

    The file must be a regular file of at most :data:`KEY_FILE_LIMIT` bytes of UTF-8 text (a
    leading byte-order mark is dropped).  A warning says so when group or others may read it.
    """
    what = f"the API key file {path}"
    data, st = read_regular_file(path, KEY_FILE_LIMIT, what=what)
    text = decode_text(data, what=what)
    lines = [line.strip() for line in text.splitlines()]
    filled = [line for line in lines if line]
    if not filled:
        raise CredentialsError(f"{what} is empty; put the API key on its first line")
    key = check_key(filled[0], f"the first line of {what}")
    warnings = []
    if mode_warning := loose_mode(st.st_mode):
        warnings.append(
            f"{what} can be {mode_warning} (mode {stat.S_IMODE(st.st_mode):04o}); run "
            f"`chmod 600 {shlex.quote(str(path))}`"
        )
    if len(filled) > 1:
        warnings.append(
            f"{what} holds {len(filled) - 1} more non-empty line(s) after the key; only the "
            "first line is used"
        )
    return key, warnings


def load_key(
    *, env_name: str, file: Path | None, environ: Mapping[str, str]
) -> tuple[str, list[str]]:
    """The run's one key: from ``file`` when given, else from the variable ``env_name``."""
    if file is not None:
        return read_key_file(file)
    return key_from_env(env_name, environ), []


# ----------------------------------------------------------------------------------------------
# Small files, read safely (also used for keys files)
# ----------------------------------------------------------------------------------------------


def loose_mode(mode: int) -> str | None:
    """What group and others may do with a file of this mode (``"read by group and others"``),
    or None when only its owner may read or write it."""
    who = [name for name, bits in (("group", 0o060), ("others", 0o006)) if mode & bits]
    if not who:
        return None
    verbs = "read" if not mode & 0o022 else ("read or written" if mode & 0o044 else "written")
    return f"{verbs} by {' and '.join(who)}"


def read_regular_file(path: Path, limit: int, *, what: str) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of at most ``limit`` bytes, and its status.

    Refused with :class:`CredentialsError`: a path that does not exist or cannot be opened, a
    FIFO, device, socket or directory (never opened for reading, so it cannot hang), a file
    larger than ``limit`` (checked before reading and again while reading, never read whole).
    """
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise CredentialsError(f"{what} does not exist; check the path") from None
    except OSError as exc:
        raise CredentialsError(f"cannot read {what}: {exc.strerror}") from None
    _check_regular(before, limit, what)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        hint = "; check its owner and mode" if isinstance(exc, PermissionError) else ""
        raise CredentialsError(f"cannot read {what}: {exc.strerror}{hint}") from None
    try:
        st = os.fstat(fd)  # the file opened, which may differ from the one looked at
        _check_regular(st, limit, what)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise CredentialsError(f"cannot read {what}: {exc.strerror}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise _too_big(what, limit)
    return b"".join(chunks), st


def decode_text(data: bytes, *, what: str) -> str:
    """UTF-8 text without a leading byte-order mark; a UTF-16 file or other bytes are refused
    naming the cause."""
    if data.startswith(_UTF16_BOMS):
        raise CredentialsError(
            f"{what} is saved as UTF-16 (it starts with a UTF-16 byte-order mark); save it as "
            "plain UTF-8 text"
        )
    if data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CredentialsError(
            f"{what} is not UTF-8 text (byte {exc.start + 1} cannot be read); save it as plain "
            "UTF-8 text"
        ) from None


def _check_regular(st: os.stat_result, limit: int, what: str) -> None:
    mode = st.st_mode
    if not stat.S_ISREG(mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(mode)
            else "a named pipe (FIFO)"
            if stat.S_ISFIFO(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "not a regular file"
        )
        raise CredentialsError(
            f"{what} is {kind}, not a regular file; give the path of a small file holding the "
            "key (to hand a key over from a program, put it in an environment variable instead)"
        )
    if st.st_size > limit:
        raise _too_big(what, limit)


def _too_big(what: str, limit: int) -> CredentialsError:
    return CredentialsError(
        f"{what} is larger than {limit:,} bytes, too large to be what it should be; check the path"
    )


def load_api_key(options: RunOptions, on_event: EventSink = ignore) -> str:
    """The key, from a file or the environment; never from a flag, never printed.  Warnings
    (a key file others may read) go to ``on_event``."""
    key, warnings = load_key(
        env_name=options.api_key_env, file=options.api_key_file, environ=os.environ
    )
    for warning in warnings:
        on_event(Notice("warning", warning, "key_file"))
    return key
