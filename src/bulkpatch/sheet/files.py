"""Opening a sheet file: only a regular file, checked before it is read; its hash; its copy.

* :func:`open_sheet` -- check that a path is a readable sheet and read its header.
* :func:`snapshot_sheet` -- copy a sheet into a run directory (hashing it in the same read) and
  open the copy, so that a run reads exactly the bytes it hashed however the original changes.
* :func:`file_sha256` -- the SHA-256 of a file.

The reader of a sheet is chosen here, once, from its kind (``_open``); the readers themselves
import only ``base``, ``frames`` and ``regular`` (which refuses a pipe or a device before it is
read), so nothing in this package imports in a circle.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import replace
from pathlib import Path

from bulkpatch.core.errors import SheetError, StorageError
from bulkpatch.sheet.base import CANONICAL_EXTENSION, Sheet, SheetKind, sheet_kind
from bulkpatch.sheet.csvfile import open_csv
from bulkpatch.sheet.excelfile import open_xlsx
from bulkpatch.sheet.parquetfile import open_parquet
from bulkpatch.sheet.regular import (
    fsync_dir,
    open_regular,
    os_failure,
    read_head,
    refuse_irregular,
)

_COPY_BYTES = 1 << 20
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex.

    Raises :class:`SheetError` for a file that is not a regular one (never blocks on a pipe) and
    ``OSError`` when the file cannot be read.
    """
    p = Path(path)
    refuse_irregular(os.stat(p).st_mode, p)
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    digest = hashlib.sha256()
    try:
        refuse_irregular(os.fstat(fd).st_mode, p)
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
    # The one place a reader is chosen: the opened Sheet carries its reader's row iterator.
    if kind == "csv":
        return open_csv(path, head, source)
    if kind == "parquet":
        return open_parquet(path, head, source)
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
    fsync_dir(folder)
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
                raise os_failure(exc, src) from None
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
