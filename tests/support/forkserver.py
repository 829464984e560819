"""``bulkpatch`` child processes without the interpreter's start-up: a fork server.

A ``python -m bulkpatch`` child spends most of its CPU importing (about 0.6 s of a small run's
0.7 s), and the tests start a few hundred of them.  Each test process starts one server, on first
use: a Python process that imports what the commands import below the command line (the engine,
aiohttp, polars ...) and then waits.  A child is a fork of it that runs ``bulkpatch ARGS`` as
``python -m bulkpatch ARGS`` does: its own process (pid, exit status, signals, ``kill -9``, a
file-size limit), stdout and stderr pipes, environment, working directory and umask, the same
code, started in a few milliseconds.  The command modules themselves (``bulkpatch.cli.run`` ...)
are imported by the child, as the lazy group imports them: the server leaves the group as a fresh
process finds it.

What a fork does not show, a fresh interpreter still tests: what a command imports
(tests/cli/test_lazy_group.py, tests/ops/test_otel.py), the installed ``bulkpatch`` script
(tests/cli/test_cli_overview.py, test_cli_validate.py) and start-up time (the benchmark).  A child
whose environment changes how Python starts (``PYTHON*``, the locale) is started fresh, as is
every child without Linux's pidfd (5.3+) or when ``BULKPATCH_TEST_FORK=0``.

How: the server reads each request (argv, environment, working directory, umask, file-size
limit) with the child's stdin (/dev/null), stdout, stderr and a status pipe (``SCM_RIGHTS``) from
a ``SOCK_SEQPACKET`` socket.  For each it forks the child and writes to the status pipe the
child's pid, then (its pidfd readable) its exit status as ``subprocess`` gives it (negative:
killed by that signal).  It reaps each child and the test process reaps it, so that the children's
CPU time counts in the test run's (``time pytest``).  It exits when the test process closes the
socket, once its children ended.

Polars: a fork of a process whose polars thread pool has run deadlocks in polars.  The server
imports polars and never uses it.  This file is the server's script too (``python forkserver.py
FD``): its top imports only the standard library.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Environment variables that change how the interpreter starts: a child whose value differs
#: from the server's is started fresh.
STARTUP_PREFIXES = ("PYTHON", "LC_")
STARTUP_NAMES = frozenset({"LANG", "LANGUAGE"})
#: The biggest request (argv and environment, JSON).
MAX_REQUEST = 1 << 20
#: Set to 0 to start every ``bulkpatch`` child as a fresh interpreter.
SWITCH = "BULKPATCH_TEST_FORK"


# -- the server ---------------------------------------------------------------------------------


def _preload() -> None:
    """Import every bulkpatch module a command may load, except the command modules (the lazy
    group registers a command as it imports its module) and the optional telemetry."""
    import importlib
    import pkgutil

    import bulkpatch
    from bulkpatch.cli.group import COMMANDS, cli

    skip = {entry.module for entry in COMMANDS.values()}
    skip |= {"bulkpatch.__main__", "bulkpatch.cli.commands"}
    skip |= {"bulkpatch.ops.otel", "bulkpatch.ops.otelsetup", "bulkpatch.ops.otelmetrics"}
    for module in pkgutil.walk_packages(bulkpatch.__path__, "bulkpatch."):
        if module.name not in skip:
            importlib.import_module(module.name)
    assert not cli.commands, f"a preloaded module registered a command: {sorted(cli.commands)}"
    import runpy  # noqa: F401  (the children's entry)


def _exit_code(exc: SystemExit) -> int:
    """What the interpreter exits with for ``SystemExit(exc.code)``."""
    if exc.code is None or isinstance(exc.code, int):
        return exc.code or 0
    print(exc.code, file=sys.stderr)
    return 1


def _run_child(request: dict[str, Any], stdio: Sequence[int]) -> None:
    """In the forked child: become ``python -m bulkpatch ARGS`` and exit as it would."""
    import atexit as child_atexit
    import resource
    import runpy
    import time

    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    # Nothing else, as a new process: not the server's socket, nor the status pipes of the
    # children still running (held open here, they would not end for their readers).
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    limit = request.get("fsize")
    if limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    os.umask(request["umask"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    time.tzset()
    sys.path[0] = os.getcwd()  # as ``python -m`` puts it first
    sys.argv = ["bulkpatch", *request["args"]]
    code: int | None = 0  # None: ended by SIGINT, as Python ends on an uncaught Ctrl-C
    try:
        runpy.run_module("bulkpatch", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = _exit_code(exc)
    except KeyboardInterrupt:
        sys.excepthook(*sys.exc_info())
        code = None
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    # As the interpreter ends: exit handlers, finalizers (an unclosed session warns here),
    # then the streams.
    try:
        child_atexit._run_exitfuncs()
        gc.collect()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    finally:
        if code is None:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        os._exit(1 if code is None else code)


def serve(fd: int) -> None:
    """The server's loop: a fork per request, and each child's exit status once it ends; until
    the test process closes the socket and the children ended."""
    import selectors

    sock = socket.socket(fileno=fd)
    sys.path[0] = os.getcwd()  # not this script's directory: nothing of the tests' shadows
    _preload()
    gc.freeze()  # the children's collections skip what the server holds: fewer pages copied
    on_sigint = signal.getsignal(signal.SIGINT)  # what a fresh interpreter would have
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C of pytest ends it by EOF
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    listening = True
    while listening or len(selector.get_map()) > 1:
        for key, _ in selector.select():
            if key.fileobj is not sock:  # a child ended: its pidfd is readable
                pid, status, pidfd = key.data
                selector.unregister(pidfd)
                os.close(pidfd)
                _, how = os.waitpid(pid, 0)  # reaped here: its CPU time counts in ours
                os.write(status, f"{os.waitstatus_to_exitcode(how)}\n".encode())
                os.close(status)
                continue
            message, fds, _, _ = socket.recv_fds(sock, MAX_REQUEST, 4)
            if not message:
                selector.unregister(sock)
                listening = False
                continue
            *stdio, status = fds
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGINT, on_sigint)
                _run_child(json.loads(message), stdio)
            for received in stdio:
                os.close(received)
            os.write(status, f"{pid}\n".encode())
            pidfd = os.pidfd_open(pid)
            selector.register(pidfd, selectors.EVENT_READ, (pid, status, pidfd))


# -- the client ---------------------------------------------------------------------------------


class ForkServerError(RuntimeError):
    """The fork server is not there (it failed to start, or died)."""


class _Server:
    """The fork server of this test process (started on first use; it imports while the first
    request waits in its socket)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        self.lock = threading.Lock()
        self.env = dict(os.environ)
        self.log = tempfile.TemporaryFile()  # noqa: SIM115  (its stderr, read if it fails)
        self.process = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
            env=self.env,
        )
        theirs.close()

    def send(self, request: dict[str, Any], fds: list[int]) -> None:
        with self.lock:
            socket.send_fds(self.sock, [json.dumps(request).encode()], fds)

    def failure(self) -> str:
        """Why it did not start a child (what it printed before it died)."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "the fork server did not start the child"
        self.log.seek(0)
        printed = self.log.read().decode("utf-8", "replace")[-3000:]
        return f"the fork server exited with {code}:\n{printed}"

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        self.log.close()


_server: _Server | None = None


def _the_server() -> _Server:
    global _server
    if _server is None or _server.process.poll() is not None:
        _server = _Server()
        atexit.register(_server.close)
    return _server


def shutdown() -> None:
    """Close this test process's server, if it started one (it ends once its children did)."""
    if _server is not None:
        _server.close()


@functools.cache
def supported() -> bool:
    """Whether this system has pidfds (how the server learns that a child ended)."""
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


def forkable(env: dict[str, str]) -> bool:
    """Whether a child with this environment can be a fork: it starts Python as the server did
    (and the system has pidfds, and ``BULKPATCH_TEST_FORK`` is not 0)."""
    if os.environ.get(SWITCH, "1") == "0" or not supported():
        return False
    server_env = _server.env if _server is not None else os.environ
    names = {n for n in (*env, *server_env) if n.startswith(STARTUP_PREFIXES)} | STARTUP_NAMES
    return all(env.get(n) == server_env.get(n) for n in names)


@dataclass
class Forked:
    """A forked ``bulkpatch`` child: our ends of its pipes, what it wrote (``stdout``,
    ``stderr``), ``pid``, ``send_signal``, ``returncode``; ``await wait()`` in an async test."""

    args: list[str]
    status_fd: int
    out_fd: int
    err_fd: int
    pid: int = 0  # known once it started (the status pipe's first line)
    returncode: int | None = None
    out: bytearray = field(default_factory=bytearray)
    err: bytearray = field(default_factory=bytearray)
    done: Any = None  # an asyncio.Event, set once it ended (async tests: :meth:`watch`)
    _watched: dict[int, bytearray] = field(default_factory=dict)

    @property
    def stdout(self) -> bytes:
        return bytes(self.out)

    @property
    def stderr(self) -> bytes:
        return bytes(self.err)

    def send_signal(self, signum: int) -> None:
        if self.pid and self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def completed(self) -> subprocess.CompletedProcess[bytes]:
        assert self.returncode is not None
        return subprocess.CompletedProcess(self.args, self.returncode, self.stdout, self.stderr)

    def started(self, line: bytes) -> None:
        if not line.strip():
            assert _server is not None
            raise ForkServerError(_server.failure())
        self.pid = int(line)

    def ended(self, status: bytes) -> int:
        self.returncode = int(status)
        return self.returncode

    def watch(self) -> None:
        """Read its pipes as data comes (callbacks of the running asyncio loop, so that no task
        group wraps a test's exceptions), until it ended: ``done`` is then set."""
        import asyncio

        loop = asyncio.get_running_loop()
        self.done = asyncio.Event()
        status = bytearray()
        self._watched = {self.out_fd: self.out, self.err_fd: self.err, self.status_fd: status}
        for fd in self._watched:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._readable, loop, fd, status)

    def _readable(self, loop: Any, fd: int, status: bytearray) -> None:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        if chunk:
            self._watched[fd] += chunk
            return
        loop.remove_reader(fd)
        os.close(fd)
        del self._watched[fd]
        if not self._watched:
            self.ended(bytes(status))
            self.done.set()

    def abandon(self) -> None:
        """Kill it and stop reading it (a test that raised or was cancelled)."""
        import asyncio

        self.kill()
        loop = asyncio.get_running_loop()
        for fd in list(self._watched) if self.done else (self.out_fd, self.err_fd, self.status_fd):
            loop.remove_reader(fd)
            os.close(fd)
        self._watched.clear()

    async def wait(self) -> int:
        await self.done.wait()
        assert self.returncode is not None
        return self.returncode


def spawn(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    fsize: int | None = None,
) -> Forked:
    """Ask the server for ``bulkpatch ARGS`` (check :func:`forkable` first): with ``env`` as its
    whole environment, in ``cwd`` (else ours), with our umask, writing no file over ``fsize``
    bytes (EFBIG, SIGXFSZ ignored); stdin /dev/null, stdout and stderr pipes."""
    server = _the_server()
    words = [os.fspath(a) for a in args]
    null = os.open(os.devnull, os.O_RDONLY)
    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    status_read, status_write = os.pipe()
    umask = os.umask(0o022)
    os.umask(umask)
    where = os.fspath(cwd) if cwd else os.getcwd()  # where a child would start: here
    request = {"args": words, "env": env, "cwd": where, "umask": umask, "fsize": fsize}
    try:
        server.send(request, [null, out_write, err_write, status_write])
    finally:
        for fd in (null, out_write, err_write, status_write):
            os.close(fd)
    return Forked(["bulkpatch", *words], status_read, out_read, err_read)


# -- waiting, from async tests ------------------------------------------------------------------


async def _read_line(fd: int) -> bytes:
    """The status pipe's next line (its lines come whole: each is one write)."""
    import anyio

    os.set_blocking(fd, False)
    line = b""
    while not line.endswith(b"\n"):
        await anyio.wait_readable(fd)
        try:
            chunk = os.read(fd, 1)  # not past the line: the exit status may follow at once
        except BlockingIOError:
            continue
        if not chunk:
            break
        line += chunk
    return line


@contextlib.asynccontextmanager
async def running(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    fsize: int | None = None,
) -> AsyncIterator[Forked]:
    """A forked ``bulkpatch ARGS`` running while the block runs (``pid``, ``send_signal``,
    ``returncode``, ``await wait()``); the block's end waits for it to end, and kills it first
    if the block raised or was cancelled."""
    child = spawn(args, env=env, cwd=cwd, fsize=fsize)
    try:
        child.started(await _read_line(child.status_fd))
        child.watch()
        yield child
        await child.wait()
    except BaseException:
        child.abandon()
        raise


async def run_async(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    fsize: int | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """``bulkpatch ARGS`` forked, to its end (killed if cancelled)."""
    async with running(args, env=env, cwd=cwd, fsize=fsize) as child:
        await child.wait()
    return child.completed()


# -- waiting, from plain tests ------------------------------------------------------------------


def run_sync(
    args: Sequence[str | os.PathLike[str]],
    *,
    env: dict[str, str],
    cwd: str | os.PathLike[str] | None = None,
    timeout: float,
) -> subprocess.CompletedProcess[bytes]:
    """``bulkpatch ARGS`` forked, to its end; killed after ``timeout`` s (then
    :class:`subprocess.TimeoutExpired`, as ``subprocess.run`` raises it)."""
    import selectors
    import time

    child = spawn(args, env=env, cwd=cwd)
    status = bytearray()
    buffers = {child.out_fd: child.out, child.err_fd: child.err, child.status_fd: status}
    deadline = time.monotonic() + timeout
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            selector.register(fd, selectors.EVENT_READ)
        while buffers:
            left = deadline - time.monotonic()
            started = bytes(status).split(b"\n")[0]
            if left <= 0 and not timed_out and started:
                timed_out = True
                child.started(started)
                child.kill()
            for key, _ in selector.select(None if timed_out else max(left, 0.05)):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    buffers[key.fd] += chunk
                    continue
                selector.unregister(key.fd)
                os.close(key.fd)
                del buffers[key.fd]
    pid, _, code = bytes(status).partition(b"\n")
    child.started(pid)
    child.ended(code)
    if timed_out:
        raise subprocess.TimeoutExpired(child.args, timeout, bytes(child.out), bytes(child.err))
    return child.completed()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
