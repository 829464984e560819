"""Opening a sheet file: only a regular file, checked before it is read; its hash; its copy.

* :func:`open_sheet` -- check that a path is a readable sheet and read its header.
* :func:`snapshot_sheet` -- copy a sheet into a run directory (hashing it in the same read) and
  open the copy, so that a run reads exactly the bytes it hashed however the original changes.
* :func:`file_sha256` -- the SHA-256 of a file.

A named pipe, a device or a socket is refused before it is opened for reading (it could block
for ever, or never end); the file is then opened without blocking and checked again, so that
a path swapped between the two checks is refused too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from dataclasses import replace
from pathlib import Path

from bulkpatch.core.errors import SheetError, StorageError
from bulkpatch.sheet.base import CANONICAL_EXTENSION, Sheet, SheetKind, sheet_kind

#: Bytes read at the start of a file to tell what it is (and the CSV header).
SNIFF_BYTES = 64 * 1024
_COPY_BYTES = 1 << 20
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


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


def _refuse(mode: int, shown: Path) -> None:
    what = _not_regular(mode)
    if what is None:
        return
    if what == "a directory":
        raise SheetError(f"{shown}: is a directory, not a sheet")
    raise SheetError(
        f"{shown}: is {what}, not a regular file: bulkpatch reads a sheet saved to a file "
        "(it hashes and copies it before reading); save it to a file first"
    )


def _os_failure(exc: OSError, shown: Path) -> SheetError:
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
        _refuse(os.stat(path).st_mode, shown)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _os_failure(exc, shown) from None
    try:
        _refuse(os.fstat(fd).st_mode, shown)
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
        raise _os_failure(exc, shown or path) from None
    finally:
        os.close(fd)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex.

    Raises :class:`SheetError` for a file that is not a regular one (never blocks on a pipe) and
    ``OSError`` when the file cannot be read.
    """
    p = Path(path)
    _refuse(os.stat(p).st_mode, p)
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    digest = hashlib.sha256()
    try:
        _refuse(os.fstat(fd).st_mode, p)
        while block := os.read(fd, _COPY_BYTES):
            digest.update(block)
    finally:
        os.close(fd)
    return digest.hexdigest()


def open_sheet(
    path: str | os.PathLike[str], *, fmt: str | None = None, sheet_name: str | None = None
) -> Sheet:
    """Check that ``path`` is a readable CSV, Parquet or ``.xlsx`` sheet and read its header.

    ``fmt`` overrides the extension; ``sheet_name`` picks a worksheet of a workbook (default:
    the first).  Raises :class:`SheetError` with a clear message: missing file, a directory or
    a pipe, no permission, not a sheet, empty, no header, not UTF-8, damaged.
    """
    return _open(Path(path), fmt, sheet_name, source=None)


def _open(path: Path, fmt: str | None, sheet_name: str | None, source: Path | None) -> Sheet:
    shown = source or path
    head = read_head(path, shown)
    kind = sheet_kind(shown if fmt is None else path, fmt)
    if sheet_name is not None and kind != "xlsx":
        raise SheetError(
            f"{shown}: --sheet-name picks a worksheet of an .xlsx workbook; this sheet is {kind}"
        )
    if kind == "csv":
        from bulkpatch.sheet.csvfile import open_csv

        return open_csv(path, head, source)
    if kind == "parquet":
        from bulkpatch.sheet.parquetfile import open_parquet

        return open_parquet(path, head, source)
    from bulkpatch.sheet.excelfile import open_xlsx

    return open_xlsx(path, head, source, sheet_name)


def snapshot_sheet(
    source: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    sheet_name: str | None = None,
) -> tuple[Sheet, str]:
    """Copy a sheet to ``dest_dir/sheet.<ext>`` (0600) and open the copy; return it and the
    SHA-256 of the bytes copied.

    The source is read once: hashed while it is copied.  Whatever then happens to the original
    (a nightly export rewriting it, a user re-saving it), the run reads the copy, which holds
    exactly the hashed bytes.  The copy is written under a temporary name and renamed, so it is
    whole or absent.  Errors in the sheet name the original file (:class:`SheetError`); a copy
    that cannot be written raises :class:`StorageError`.  A sheet that cannot be opened leaves
    no copy behind.
    """
    src = Path(source)
    folder = Path(dest_dir)
    fd = open_regular(src)
    try:
        kind: SheetKind = sheet_kind(src, fmt)
        if sheet_name is not None and kind != "xlsx":
            raise SheetError(
                f"{src}: --sheet-name picks a worksheet of an .xlsx workbook; this sheet is {kind}"
            )
        target = folder / f"sheet{CANONICAL_EXTENSION[kind]}"
        tmp, digest = _copy_hashing(fd, src, folder, target)
    finally:
        os.close(fd)
    try:
        sheet = _open(tmp, kind, sheet_name, source=src)
        os.replace(tmp, target)
    except SheetError:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"cannot copy the sheet into {folder}: {exc.strerror or exc}") from None
    _fsync_dir(folder)
    return replace(sheet, path=target), digest


def _copy_hashing(fd: int, src: Path, folder: Path, target: Path) -> tuple[Path, str]:
    """Copy ``fd`` to a new 0600 file beside ``target``, hashing it; return that file."""
    digest = hashlib.sha256()
    tmp = folder / f".{target.name}.{secrets.token_hex(4)}.tmp"
    try:
        out = os.open(tmp, _NEW_FILE, 0o600)
    except OSError as exc:
        raise StorageError(f"cannot copy the sheet into {folder}: {exc.strerror or exc}") from None
    try:
        while True:
            try:
                block = os.read(fd, _COPY_BYTES)
            except OSError as exc:
                raise _os_failure(exc, src) from None
            if not block:
                break
            digest.update(block)
            view = memoryview(block)
            while view:
                try:
                    written = os.write(out, view)
                except OSError as exc:
                    raise StorageError(
                        f"cannot copy the sheet into {folder}: {exc.strerror or exc}"
                    ) from None
                view = view[written:]
        try:
            os.fsync(out)
        except OSError as exc:
            raise StorageError(
                f"cannot copy the sheet into {folder}: {exc.strerror or exc}"
            ) from None
    except BaseException:
        os.close(out)
        tmp.unlink(missing_ok=True)
        raise
    os.close(out)
    return tmp, digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
