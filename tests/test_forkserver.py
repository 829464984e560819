"""The tests' ``bulkpatch`` children come from a fork server (tests/support/forkserver.py): each
must answer as ``python -m bulkpatch`` in a new interpreter answers, in the working directory and
environment it is given, and end as a process ends."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import anyio
import pytest

from support import forkserver
from support.runs import Child, bulkpatch, bulkpatch_running, bulkpatch_sync, cli_env


@pytest.mark.skipif(not forkserver.supported(), reason="no pidfd: children start fresh here")
@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["validate", "missing.csv"],
        ["validate", "bad.csv"],
        ["no-such-command"],
        ["run", "bad.csv", "--base-url", "http://example.com/api/scheduling"],
    ],
    ids=["version", "missing sheet", "invalid sheet", "unknown command", "plain http"],
)
async def test_a_forked_child_answers_as_a_new_interpreter_does(
    tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "bad.csv").write_text("org_id,workspace_id,campaign_id,name\no,w,,x\n")
    fresh = await bulkpatch(*args, api_key="fake-key", cwd=tmp_path, fresh=True)
    forked = await forkserver.run_async(args, env=cli_env("fake-key"), cwd=tmp_path)
    assert (forked.returncode, forked.stdout, forked.stderr) == (
        fresh.returncode,
        fresh.stdout,
        fresh.stderr,
    )


def test_a_forked_child_reads_its_own_environment_and_working_directory(tmp_path: Path) -> None:
    (tmp_path / "here.csv").write_text("org_id,workspace_id,campaign_id,name\no,w,c1,x\n")
    env = {**os.environ, "MY_KEY_VAR": "k-123"}
    args = ["run", "here.csv", "--api-key-env", "MY_KEY_VAR", "--base-url", "http://x.test/api"]
    found = bulkpatch_sync(*args, env=env, cwd=tmp_path)
    missing = bulkpatch_sync(*args, env=dict(os.environ), cwd=tmp_path)
    elsewhere = bulkpatch_sync("validate", "here.csv", env=env, cwd=tmp_path.parent)
    assert "https://" in found.stderr  # past the key and the sheet: the URL is refused
    assert "MY_KEY_VAR is not set" in missing.stderr
    assert elsewhere.returncode == 2
    assert "here.csv" in elsewhere.stderr


async def test_a_forked_child_ends_by_its_signal_as_a_process_does(tmp_path: Path) -> None:
    for signum, code in [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGTERM, 0)]:
        async with bulkpatch_running("simulate", "--port", "0", cwd=tmp_path) as child:
            with anyio.fail_after(30):
                while b"Press Ctrl-C" not in child.stdout:  # noqa: ASYNC110 (its output)
                    await anyio.sleep(0.01)
            child.send_signal(signum)
            assert await child.wait() == code


async def test_a_child_that_ends_is_not_held_up_by_one_started_after_it(tmp_path: Path) -> None:
    async def ready(child: Child) -> None:
        with anyio.fail_after(30):
            while b"Press Ctrl-C" not in child.stdout:  # noqa: ASYNC110 (its output)
                await anyio.sleep(0.01)

    async with bulkpatch_running("simulate", "--port", "0", cwd=tmp_path) as first:
        await ready(first)
        async with bulkpatch_running("simulate", "--port", "0", cwd=tmp_path) as second:
            await ready(second)  # it runs on: it holds nothing of the first child's
            first.send_signal(signal.SIGTERM)
            with anyio.fail_after(10):
                assert await first.wait() == 0
            second.send_signal(signal.SIGTERM)
