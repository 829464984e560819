"""Helpers for end-to-end tests: write a sheet, run bulkpatch in-process against a simulator,
read the reports back."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import anyio
import pytest
from rich.console import Console

from bulkpatch.cli.display import ConsoleDisplay
from bulkpatch.cli.exits import report_error
from bulkpatch.core.errors import BulkpatchError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.stopper import Stopper
from bulkpatch.core.summary import RunSummary
from bulkpatch.core.timing import REAL, Timing
from bulkpatch.ops.apply import apply_sheet_async, plan_sheet_async, resume_run_async
from bulkpatch.simulator import Simulator
from support import forkserver
from support.scripted import ScriptedSimulator

#: The ``start_simulator`` fixture's type (see conftest.py).
StartSimulator = Callable[..., Awaitable[Simulator]]
#: The ``start_scripted`` fixture's type (see conftest.py).
StartScripted = Callable[..., Awaitable[ScriptedSimulator]]


def write_sheet(path: Path, rows: list[dict[str, Any]]) -> Path:
    columns: list[str] = []
    for row in rows:
        for column in row:
            if column not in columns:
                columns.append(column)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


@dataclass
class RunOutcome:
    code: int
    run_dir: Path | None
    output: str
    summary_obj: RunSummary | None = None

    def results(self, name: str = "results.csv") -> list[dict[str, str]]:
        assert self.run_dir is not None
        with (self.run_dir / name).open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))

    def outcomes(self) -> dict[str, str]:
        """campaign_id -> outcome."""
        return {r["campaign_id"]: r["outcome"] for r in self.results()}

    def summary(self) -> dict[str, Any]:
        assert self.run_dir is not None
        data: dict[str, Any] = json.loads((self.run_dir / "summary.json").read_text())
        return data


async def run_sheet(
    sheet: Path,
    sim: Any,
    monkeypatch: pytest.MonkeyPatch,
    *,
    mode: str = "run",
    run_dir: Path | None = None,
    stopper: Stopper | None = None,
    timing: Timing = REAL,
    **options: Any,
) -> RunOutcome:
    """Run ``bulkpatch run`` (or plan/resume) in-process through the library API against ``sim``
    (anything with ``config.api_key`` and ``base_url``), shown on a console we capture.

    ``timing``: real time unless the test passes ``fake_time.timing()`` (the ``fake_time``
    fixture), which it should whenever the run retries, backs off, meets an outage or is paced
    and the test does not measure real time."""
    monkeypatch.setenv("SARVAM_API_KEY", sim.config.api_key)
    given = dict(options)  # what a resume overrides: only what the test gave
    options.setdefault("rate", None)
    options.setdefault("report_dir", sheet.parent / "reports")
    options.setdefault("base_url", sim.base_url)
    buffer = io.StringIO()
    console = Console(file=buffer, width=160)
    display = ConsoleDisplay(console, console, quiet=False, json_out=False)
    kwargs: dict[str, Any] = {"on_event": display, "stopper": stopper, "timing": timing}
    try:
        if mode == "resume":
            assert run_dir is not None
            summary = await resume_run_async(run_dir, overrides=given, **kwargs)
        elif mode == "plan":
            summary = await plan_sheet_async(sheet, options=RunOptions(**options), **kwargs)
        else:
            summary = await apply_sheet_async(sheet, options=RunOptions(**options), **kwargs)
    except BulkpatchError as exc:
        display.stop()
        code = report_error(console, exc)
        return RunOutcome(int(code), display.run_dir, buffer.getvalue())
    return RunOutcome(summary.exit_code, summary.run_dir, buffer.getvalue(), summary)


def cli_env(api_key: str | None) -> dict[str, str]:
    """The environment for a ``bulkpatch`` child process: ours, with the key we choose."""
    env = {k: v for k, v in os.environ.items() if k not in ("SARVAM_API_KEY", "BULKPATCH_BASE_URL")}
    env["COLUMNS"] = "160"
    if api_key is not None:
        env["SARVAM_API_KEY"] = api_key
    return env


#: A child still running after this long is killed and its test fails (pytest's own timeout
#: interrupts the test but not the child, and the run would wait for it).
CHILD_TIMEOUT = 100.0

#: ``python -c LIMITED LIMIT ARGS``: ``bulkpatch ARGS`` writing no file over LIMIT bytes.
LIMITED = (
    "import resource, runpy, signal, sys; "
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "limit = int(sys.argv.pop(1)); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)); "
    "sys.argv[0] = 'bulkpatch'; "
    "runpy.run_module('bulkpatch', run_name='__main__')"
)


def fresh_command(args: Sequence[str | Path], fsize: int | None = None) -> list[str]:
    """``python -m bulkpatch ARGS`` in a new interpreter (with a file-size limit, if given)."""
    if fsize is None:
        return [sys.executable, "-m", "bulkpatch", *map(str, args)]
    return [sys.executable, "-c", LIMITED, str(fsize), *map(str, args)]


async def bulkpatch(
    *args: str | Path,
    api_key: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    fsize: int | None = None,
    fresh: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """``bulkpatch ARGS`` in a child process, to its end (the event loop keeps serving).

    The child is a fork of the test process's fork server (``support/forkserver.py``: the same
    code, without the interpreter's start-up); ``fresh=True`` starts a new interpreter, for tests
    of start-up itself.  Its environment is ours with ``api_key`` as the key (``cli_env``), or
    ``env`` whole; ``fsize`` limits the size of any file it writes (EFBIG, as a full disk)."""
    env = cli_env(api_key) if env is None else env
    with anyio.fail_after(CHILD_TIMEOUT):
        if not fresh and forkserver.forkable(env):
            return await forkserver.run_async(args, env=env, cwd=cwd, fsize=fsize)
        return await anyio.run_process(fresh_command(args, fsize), env=env, cwd=cwd, check=False)


def bulkpatch_sync(
    *args: str | Path,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = CHILD_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """:func:`bulkpatch` for a test that is not async: ``subprocess.run``'s answer (text),
    killed after ``timeout`` s (:class:`subprocess.TimeoutExpired`)."""
    if forkserver.forkable(env):
        done = forkserver.run_sync(args, env=env, cwd=cwd, timeout=timeout)
        out, err = done.stdout.decode(), done.stderr.decode()
        return subprocess.CompletedProcess(done.args, done.returncode, out, err)
    command = fresh_command(args)
    return subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


class Child(Protocol):
    """A ``bulkpatch`` child running (:func:`bulkpatch_running`)."""

    @property
    def pid(self) -> int: ...
    @property
    def returncode(self) -> int | None: ...
    @property
    def stdout(self) -> bytes: ...
    @property
    def stderr(self) -> bytes: ...
    def send_signal(self, signum: int) -> None: ...
    async def wait(self) -> int: ...


class FreshChild(asyncio.SubprocessProtocol):
    """A :class:`Child` that is a new interpreter; its output is taken as it comes (callbacks of
    the event loop: no task group wraps a test's exceptions)."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()
        self.ended = asyncio.Event()
        self.transport: asyncio.SubprocessTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        (self.out if fd == 1 else self.err).extend(data)

    def connection_lost(self, exc: Exception | None) -> None:  # exited, its pipes closed
        self.ended.set()

    @property
    def pid(self) -> int:
        assert self.transport is not None
        return self.transport.get_pid()

    @property
    def returncode(self) -> int | None:
        return self.transport.get_returncode() if self.transport is not None else None

    @property
    def stdout(self) -> bytes:
        return bytes(self.out)

    @property
    def stderr(self) -> bytes:
        return bytes(self.err)

    def send_signal(self, signum: int) -> None:
        if self.transport is not None and self.returncode is None:
            self.transport.send_signal(signum)

    async def wait(self) -> int:
        await self.ended.wait()
        return self.returncode or 0


@contextlib.asynccontextmanager
async def bulkpatch_running(
    *args: str | Path, api_key: str | None = None, cwd: Path | None = None, fresh: bool = False
) -> AsyncIterator[Child]:
    """``bulkpatch ARGS`` running in a child process while the block runs (to signal it or
    kill it); the block's end waits for it, killing it first if the block raised.  The child is
    as :func:`bulkpatch`'s; its output is read as it comes (``stdout``, ``stderr``)."""
    env = cli_env(api_key)
    with anyio.fail_after(CHILD_TIMEOUT):
        if not fresh and forkserver.forkable(env):
            async with forkserver.running(args, env=env, cwd=cwd) as forked:
                yield forked
            return
        loop = asyncio.get_running_loop()
        _, child = await loop.subprocess_exec(
            FreshChild, *fresh_command(args), stdin=subprocess.DEVNULL, env=env, cwd=cwd
        )
        try:
            yield child
            await child.wait()
        finally:
            assert child.transport is not None
            child.transport.close()  # kills it if it still runs (the block raised)


def only_run_dir(report_dir: Path) -> Path:
    dirs = run_dirs(report_dir)
    assert len(dirs) == 1, dirs
    return dirs[0]


def run_dirs(report_dir: Path) -> list[Path]:
    """The run directories in a report directory (not its hidden lock directory)."""
    if not report_dir.exists():
        return []
    return sorted(p for p in report_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def campaign_rows(ids: list[str], org: str, ws: str, **changes: str) -> list[dict[str, Any]]:
    return [{"org_id": org, "workspace_id": ws, "campaign_id": cid, **changes} for cid in ids]
