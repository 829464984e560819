"""The simulator's campaigns as a file, and a simulator started from one.

A ``--simulate`` run keeps the campaigns its in-process simulator ended with in its run
directory, so that ``verify RUN_DIR --simulate`` and ``undo RUN_DIR --simulate`` can start a
simulator that holds exactly them.  The file holds the campaigns' details only -- never a key (the
simulator started from it gets a new one) and no statistics::

    {"format": 1, "campaigns": [{"org_id": ..., "workspace_id": ..., <the detail>}, ...]}

It is written whole or not at all, readable by its owner only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from bulkpatch.core.models import is_valid_id
from bulkpatch.core.rows import CampaignKey
from bulkpatch.simulator.config import SimulatorConfig
from bulkpatch.simulator.state import SimulatorState

#: The file's format; a reader refuses a newer one.
SNAPSHOT_FORMAT = 1


class SnapshotError(ValueError):
    """A state file that cannot be read."""


def snapshot(state: SimulatorState) -> dict[str, Any]:
    """Every campaign ``state`` holds (generated ones included), as plain JSON values."""
    return {"format": SNAPSHOT_FORMAT, "campaigns": state.dump()}


def save_state(state: SimulatorState, path: Path) -> None:
    """Write :func:`snapshot` of ``state`` to ``path`` (0600, whole or not at all); OSError when
    it cannot be written."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(snapshot(state), handle, ensure_ascii=False, separators=(",", ":"))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def load_state(path: Path, config: SimulatorConfig) -> SimulatorState:
    """A simulator state under ``config`` holding the campaigns saved in ``path`` (and nothing
    else: ``config``'s own population is not generated).  :class:`SnapshotError` for a file
    that cannot be read; OSError when it cannot be opened."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, RecursionError, ValueError) as exc:
        raise SnapshotError(f"{path} is not a simulator state ({type(exc).__name__})") from None
    if not isinstance(data, dict) or not isinstance(data.get("campaigns"), list):
        raise SnapshotError(f"{path} is not a simulator state (no list of campaigns)")
    if data.get("format") != SNAPSHOT_FORMAT:
        raise SnapshotError(f"{path} has format {data.get('format')!r}, not {SNAPSHOT_FORMAT}")
    state = SimulatorState(config)
    for item in data["campaigns"]:
        ids = [item.get(k) if isinstance(item, dict) else None for k in _KEYS]
        org, workspace, campaign = (i if isinstance(i, str) and is_valid_id(i) else "" for i in ids)
        if not (org and workspace and campaign):
            raise SnapshotError(f"{path} holds a campaign without valid ids")
        detail = {k: v for k, v in item.items() if k not in ("org_id", "workspace_id")}
        state.put(CampaignKey(org, workspace, campaign), detail)
    return state


_KEYS = ("org_id", "workspace_id", "campaign_id")
