"""The run directory on disk: making it, locking it, and what earlier runs beside it left behind.

* :func:`make_run_dir` -- ``REPORT_DIR/<sheet-stem>-<UTC yyyymmddThhmmssZ>[-shard-K-of-N]/``
  (mode 0700), with a message that names the path and the cause when the report directory
  cannot take it (full, read-only, a file in the way, a name too long).
* :class:`FileLock` -- one bulkpatch at a time per run directory, and per (report directory,
  base URL, sheet): two runs of the same sheet against the same API at once would PATCH every
  campaign twice.  Locks are ``flock`` locks: they guard one machine, not several (shards do).
* :func:`earlier_paused` -- campaigns that earlier bulkpatch runs in the same report directory
  paused and did not resume, so a new run can name them and offer the resume.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bulkpatch.core.errors import BusyError, StorageError
from bulkpatch.core.urls import is_loopback
from bulkpatch.rundir.journal import read_journal
from bulkpatch.rundir.names import JOURNAL, LOCK, LOCKS_DIR, SUMMARY_JSON

#: Characters of the sheet's stem kept in a run directory's name.
STEM_CHARS = 80

_CAUSES = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EEXIST: "a file of that name is in the way",
    errno.EFBIG: "the file grew larger than this process may write (ulimit -f) or the file "
    "system allows",
    errno.EIO: "the disk reported an input/output error",
}


def storage_error(action: str, path: Path, exc: OSError, *, sent: bool = False) -> StorageError:
    """A :class:`StorageError` that names the path and the cause (:func:`with_next_step` adds
    what to do)."""
    cause = _CAUSES.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    return StorageError(f"cannot {action} {path}: {cause}", sent=sent)


def with_next_step(
    error: StorageError, *, sent: bool, run_dir: Path | None, simulated: bool = False
) -> StorageError:
    """``error`` saying what to do: nothing was sent (so start again once the disk is fixed),
    or requests were (so resume the run once it is; a simulated run is run again)."""
    if sent and simulated:
        then = (
            "free the space (or fix the directory), then run the sheet again with --simulate "
            "(a simulated run cannot be resumed: its simulator is gone)"
        )
    elif sent and run_dir is not None:
        then = (
            "requests were already sent: free the space (or fix the directory), then "
            f"`bulkpatch resume {run_dir}`"
        )
    elif sent:
        then = "requests were already sent: free the space, then `bulkpatch resume` the run"
    else:
        then = "nothing was sent"
    return StorageError(f"{error}; {then}", sent=sent)


def run_dir_name(stem: str, now: datetime, *, shard: str | None = None) -> str:
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-") or "sheet"
    name = f"{clean[:STEM_CHARS]}-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    if shard:
        k, n = shard.split("/")
        name += f"-shard-{k}-of-{n}"
    return name


def make_run_dir(report_dir: Path, stem: str, now: datetime, *, shard: str | None = None) -> Path:
    """Make a new, empty run directory (a suffix ``-2``, ``-3`` ... if the name is taken)."""
    try:
        report_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error("create the report directory", report_dir, exc) from None
    base = run_dir_name(stem, now, shard=shard)
    for n in range(1, 1000):
        path = report_dir / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise storage_error("create the run directory", path, exc) from None
        return path
    raise StorageError(f"cannot create a run directory in {report_dir}: 999 of that name exist")


def remove_run_dir(path: Path) -> None:
    """Remove a run directory that never sent anything (an invalid sheet, a refused start)."""
    shutil.rmtree(path, ignore_errors=True)


class FileLock:
    """An exclusive ``flock`` on a file, held until :meth:`release`."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def take(cls, path: Path, *, holder: str, busy: str) -> FileLock:
        """Take the lock, writing ``holder`` into the file; :class:`BusyError` with ``busy`` and
        the current holder when another process has it."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with contextlib.suppress(OSError):
                other = os.pread(fd, 4096, 0).decode("utf-8", errors="replace").strip()
            os.close(fd)
            raise BusyError(busy.format(holder=other or "another bulkpatch")) from None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def lock_run_dir(run_dir: Path) -> FileLock:
    try:
        return FileLock.take(
            run_dir / LOCK,
            holder=f"pid {os.getpid()}",
            busy=f"another bulkpatch ({{holder}}) is working in {run_dir}; wait for it to finish",
        )
    except OSError as exc:
        raise storage_error("create a lock in", run_dir, exc) from None


def is_live(run_dir: Path) -> bool:
    """Whether a bulkpatch process is working in ``run_dir`` now (holds its lock)."""
    try:
        fd = os.open(run_dir / LOCK, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops a lock taken here
    return False


def same_api(base_url: str) -> str:
    """``base_url`` as one text for every way of writing the same API: the scheme and host in
    lower case, the default port and a trailing slash dropped, every loopback name alike."""
    try:
        parts = urlsplit(base_url.strip())
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return base_url
    scheme = parts.scheme.lower()
    if is_loopback(host):
        host = "loopback"
    if port == {"http": 80, "https": 443}.get(scheme):
        port = None
    return f"{scheme}://{host}{f':{port}' if port else ''}{parts.path.rstrip('/')}"


def lock_work(report_dir: Path, base_url: str, sha256: str, run_dir: Path) -> FileLock:
    """One run of a sheet against an API at a time, per report directory (one machine)."""
    digest = hashlib.sha256(f"{same_api(base_url)}\0{sha256}".encode()).hexdigest()[:32]
    locks = report_dir / LOCKS_DIR
    try:
        locks.mkdir(exist_ok=True)
        return FileLock.take(
            locks / f"{digest}.lock",
            holder=str(run_dir),
            busy=(
                "another bulkpatch is already applying this sheet to this API, in {holder}; "
                "wait for it to finish (or `bulkpatch resume` that directory if it was killed)"
            ),
        )
    except OSError as exc:
        raise storage_error("create a lock in", locks, exc) from None


def _last_record(path: Path) -> dict[str, Any] | None:
    """The journal's last complete record (read from its tail only)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 8192))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                return record
    return None


def _journal_options(path: Path) -> dict[str, Any]:
    try:
        with path.open("r", encoding="utf-8", errors="replace") as f:
            first = json.loads(f.readline() or "{}")
    except (OSError, ValueError):
        return {}
    options = first.get("options") if isinstance(first, dict) else None
    return options if isinstance(options, dict) else {}


def earlier_paused(
    report_dir: Path, *, base_url: str, exclude: Path | None = None
) -> dict[str, str]:
    """Campaigns runs in ``report_dir`` (against ``base_url``) paused and did not resume:
    ``"org/ws/campaign"`` -> that run's directory.

    A run that ended cleanly is read from its journal's last line and its summary; only a run
    that was cut off (no ``end`` last) has its whole journal read.
    """
    found: dict[str, str] = {}
    try:
        entries = sorted(p for p in report_dir.iterdir() if p.is_dir())
    except OSError:
        return found
    skip = exclude.resolve() if exclude is not None else None
    api = same_api(base_url)
    for run_dir in entries:
        if skip is not None and run_dir.resolve() == skip:  # the run itself, however named
            continue
        journal = run_dir / JOURNAL
        if not journal.is_file() or is_live(run_dir):
            continue  # a run still going (another shard, say) resumes its own campaigns
        options = _journal_options(journal)
        if options.get("simulate") or same_api(str(options.get("base_url", ""))) != api:
            continue
        last = _last_record(journal)
        if last is not None and last.get("e") == "end":
            with contextlib.suppress(OSError, ValueError):
                summary = json.loads((run_dir / SUMMARY_JSON).read_text(encoding="utf-8"))
                if not summary.get("campaigns_left_paused"):
                    continue
        with contextlib.suppress(Exception):  # a damaged journal says nothing here
            for key in read_journal(journal).paused:
                found[key] = str(run_dir)
    return found


def earlier_paused_notice(earlier: dict[str, str], report_dir: Path) -> str:
    """The warning for campaigns earlier runs paused and never resumed (see
    :func:`earlier_paused`), naming the command that resumes each run's campaigns."""
    runs = "; ".join(f"`bulkpatch resume {d}`" for d in sorted(set(earlier.values())))
    return (
        f"{len(earlier)} campaign(s) were paused by an earlier bulkpatch run in {report_dir} "
        f"and never resumed: {runs} resumes them"
    )
