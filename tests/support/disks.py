"""Disks that fill up, for tests of what a command leaves behind when a write fails.

* :func:`tmpfs`: a small tmpfs mounted for the test (ENOSPC for real); the test is skipped
  where this machine does not let it mount one.
* :func:`bulkpatch_limited`: ``bulkpatch ARGS`` in a child process that may write no file
  larger than some bytes (``RLIMIT_FSIZE``: the kernel refuses the write with EFBIG, for any
  user, on any machine).
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.runs import bulkpatch


async def bulkpatch_limited(
    limit: int, *args: str | Path, api_key: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``bulkpatch ARGS`` in a process that may write no file larger than ``limit`` bytes
    (the kernel refuses the write: EFBIG, as a full disk refuses it with ENOSPC)."""
    return await bulkpatch(*args, api_key=api_key, cwd=cwd, fsize=limit)


@contextlib.contextmanager
def tmpfs(path: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``path`` (made here) with mount ``options`` (e.g. ``size=96k``)."""
    path.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)]
    mounted = subprocess.run(command, capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs privileges this machine does not give")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
