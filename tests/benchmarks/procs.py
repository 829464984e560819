"""Child processes for the benchmark: one measured command, and the simulator in its own process.

Every child runs in its own process group, so a timeout or a failure kills the whole group
(``xargs`` and its ``curl`` children, or a simulator).  A measured child is reaped with
``os.wait4``, which gives that one child's own peak RSS and CPU times (``RUSAGE_CHILDREN`` would
give the largest of every child so far).  Only loopback addresses are ever contacted.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

#: The command that starts bulkpatch: the interpreter running the benchmark, so that the same
#: environment is measured whether or not its ``bin`` is on PATH.
BULKPATCH = [sys.executable, "-m", "bulkpatch"]

_BASE_URL = re.compile(r"base URL:\s*(\S+)")


class BenchError(RuntimeError):
    """A case could not be measured (a child failed, a server never answered)."""


@dataclass(frozen=True)
class ChildResult:
    """What one measured child process did."""

    argv: tuple[str, ...]
    returncode: int
    wall_s: float
    max_rss_kib: int
    user_s: float
    sys_s: float
    stdout: str
    stderr: str
    timed_out: bool = False

    @property
    def max_rss_mib(self) -> float:
        return self.max_rss_kib / 1024.0

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.stderr.strip().splitlines()[-lines:])

    def json_stdout(self) -> Any:
        return json.loads(self.stdout)


def _kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _read(f: IO[bytes]) -> str:
    f.seek(0)
    return f.read().decode("utf-8", errors="replace")


def run_child(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Path | None = None,
) -> ChildResult:
    """Run ``argv`` to the end (killed, with its group, after ``timeout`` seconds) and measure it.

    Wall time runs from just before the fork to the moment the child is reaped, so the
    interpreter's start-up and imports are included.
    """
    timed_out = threading.Event()

    def expire(pid: int) -> None:
        timed_out.set()
        _kill_group(pid)

    with contextlib.ExitStack() as stack:
        out = stack.enter_context(tempfile.TemporaryFile())
        err = stack.enter_context(tempfile.TemporaryFile())
        inp = stack.enter_context(stdin.open("rb")) if stdin is not None else subprocess.DEVNULL
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(argv),
            stdin=inp,
            stdout=out,
            stderr=err,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, expire, args=(proc.pid,))
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        _kill_group(proc.pid)  # anything the child left behind in its group
        return ChildResult(
            argv=tuple(argv),
            returncode=proc.returncode,
            wall_s=wall,
            max_rss_kib=int(usage.ru_maxrss),
            user_s=usage.ru_utime,
            sys_s=usage.ru_stime,
            stdout=_read(out),
            stderr=_read(err),
            timed_out=timed_out.is_set(),
        )


def http_json(url: str, *, method: str = "GET", timeout: float = 30.0) -> Any:
    """A JSON request to a loopback address (the simulator's ``/_sim/*`` routes)."""
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise BenchError(f"refusing a request to {host}: the benchmark talks to loopback only")
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class SimulatorProcess:
    """``bulkpatch simulate`` in its own process group on a free loopback port.

    Use as a context manager: the server is stopped (SIGTERM, then SIGKILL) on the way out, also
    when the block fails.
    """

    def __init__(
        self, args: Sequence[str], *, api_key: str, workdir: Path, start_timeout: float = 120.0
    ) -> None:
        self.args = list(args)
        self.api_key = api_key
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.root_url = ""

    def __enter__(self) -> SimulatorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="sim-", suffix=".out", dir=self.workdir)
        os.close(fd)
        out_path = Path(name)
        env = {**os.environ, "BULKPATCH_SIM_API_KEY": self.api_key}
        argv = [*BULKPATCH, "simulate", "--host", "127.0.0.1", "--port", "0", *self.args]
        with out_path.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            self._wait_ready(out_path)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, out_path: Path) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = out_path.read_text(errors="replace")[-2000:]
                raise BenchError(f"the simulator exited with {self.proc.returncode}:\n{text}")
            match = _BASE_URL.search(out_path.read_text(errors="replace"))
            if match:
                self.base_url = match.group(1)
                parts = urlsplit(self.base_url)
                self.root_url = f"{parts.scheme}://{parts.netloc}"
                break
            time.sleep(0.05)
        else:
            raise BenchError("the simulator did not print its address in time")
        for _ in range(100):
            with contextlib.suppress(OSError):
                self.stats()
                return
            time.sleep(0.05)
        raise BenchError("the simulator does not answer on its address")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def host_port(self) -> str:
        return urlsplit(self.base_url).netloc

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = http_json(self.root_url + "/_sim/stats")
        # Per-campaign maps are large and not needed here.
        data.pop("patches_applied", None)
        data.pop("status_changes", None)
        return data

    def timeline(self, bucket_ms: int) -> dict[str, Any]:
        data: dict[str, Any] = http_json(f"{self.root_url}/_sim/timeline?bucket_ms={bucket_ms}")
        return data

    def reset_stats(self) -> None:
        http_json(self.root_url + "/_sim/reset-stats", method="POST")
