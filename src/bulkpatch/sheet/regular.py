"""Reading a regular file without blocking: the check every sheet reader opens its file with.

A named pipe, a device or a socket is refused before it is opened for reading (it could block
for ever, or never end); the file is then opened without blocking and checked again, so that
a path swapped between the two checks is refused too.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from bulkpatch.core.errors import SheetError

#: Bytes read at the start of a file to tell what it is (and the CSV header).
SNIFF_BYTES = 64 * 1024


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def refuse_irregular(mode: int, shown: Path) -> None:
    """Raise :class:`SheetError` unless ``mode`` is a regular file's."""
    what = _not_regular(mode)
    if what is None:
        return
    if what == "a directory":
        raise SheetError(f"{shown}: is a directory, not a sheet")
    raise SheetError(
        f"{shown}: is {what}, not a regular file: bulkpatch reads a sheet saved to a file "
        "(it hashes and copies it before reading); save it to a file first"
    )


def os_failure(exc: OSError, shown: Path) -> SheetError:
    """The :class:`SheetError` for an ``OSError`` met opening or reading ``shown``."""
    if isinstance(exc, FileNotFoundError):
        return SheetError(f"{shown}: no such file")
    if isinstance(exc, PermissionError):
        return SheetError(f"{shown}: cannot read it: permission denied")
    if isinstance(exc, IsADirectoryError):
        return SheetError(f"{shown}: is a directory, not a sheet")
    if isinstance(exc, NotADirectoryError):
        return SheetError(f"{shown}: no such file (a part of the path is not a folder)")
    return SheetError(f"{shown}: cannot read it: {exc.strerror or exc}")


def open_regular(path: Path, shown: Path | None = None) -> int:
    """A read-only descriptor of ``path``, which must be a regular file (never blocks)."""
    shown = shown or path
    try:
        refuse_irregular(os.stat(path).st_mode, shown)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise os_failure(exc, shown) from None
    try:
        refuse_irregular(os.fstat(fd).st_mode, shown)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_head(path: Path, shown: Path | None = None) -> bytes:
    """The first :data:`SNIFF_BYTES` of a regular file."""
    fd = open_regular(path, shown)
    try:
        chunks: list[bytes] = []
        size = 0
        while size < SNIFF_BYTES:
            chunk = os.read(fd, SNIFF_BYTES - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise os_failure(exc, shown or path) from None
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries to disk, so a rename in it survives a crash (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
