"""A sheet that does not fit on the disk: a message naming the file and the cause, and nothing
left behind -- no temporary file, no scratch file of the ``.xlsx`` writer, no traceback printed
later by a zip file the collector closes."""

from __future__ import annotations

import errno
import gc
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from bulkpatch.core.errors import StorageError
from bulkpatch.sheet import write_table
from bulkpatch.sheet import writing as sheet_writing
from support.disks import tmpfs

COLUMNS = ["org_id", "workspace_id", "campaign_id", "name", "app_config.app_version"]


def rows(n: int) -> list[list[Any]]:
    # Distinct text, so that no format compresses it into the room left.
    return [["org-a", "ws-1", f"cmp-{i:06d}", os.urandom(24).hex(), i] for i in range(n)]


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the interpreter would print as "Exception ignored in ..." (e.g. a zip file that
    fails again when the collector closes it)."""
    seen: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


@pytest.mark.parametrize("ext", ["csv", "parquet", "xlsx"])
def test_a_sheet_written_onto_a_full_disk_names_the_file_and_leaves_nothing_behind(
    tmp_path: Path, ext: str, unraisable: list[Any]
) -> None:
    with tmpfs(tmp_path / "small", "size=64k,mode=0700") as disk:
        target = disk / f"live.{ext}"
        with pytest.raises(StorageError) as raised:
            write_table(target, COLUMNS, rows(5000))
        gc.collect()

        assert str(raised.value) == f"cannot write {target}: No space left on device"
        assert list(disk.iterdir()) == []
        assert unraisable == []
        # The space is there again for the next try: a small sheet fits.
        assert write_table(target, COLUMNS, rows(3)) == 3
        assert [p.name for p in disk.iterdir()] == [target.name]


@pytest.mark.parametrize("ext", ["csv", "parquet", "xlsx"])
def test_a_sheet_whose_writes_fail_with_enospc_leaves_nothing_behind(
    tmp_path: Path, ext: str, monkeypatch: pytest.MonkeyPatch, unraisable: list[Any]
) -> None:
    real_open = open

    class Full:
        """A file whose writes past the first 4 KiB fail: the disk is full."""

        def __init__(self, file: Any) -> None:
            self._file = file
            self._room = 4096

        def write(self, data: Any) -> int:
            self._room -= len(data)
            if self._room < 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return int(self._file.write(data))

        def __getattr__(self, name: str) -> Any:
            return getattr(self._file, name)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self._file.close()

    def full_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        file = real_open(path, mode, *args, **kwargs)
        return Full(file) if "w" in mode else file

    monkeypatch.setattr(sheet_writing, "open", full_open, raising=False)
    target = tmp_path / f"live.{ext}"

    with pytest.raises(StorageError) as raised:
        write_table(target, COLUMNS, rows(5000))
    gc.collect()

    assert str(raised.value) == f"cannot write {target}: No space left on device"
    assert list(tmp_path.iterdir()) == []
    assert unraisable == []
