"""A run against the embedded simulator (``--simulate``): started here, seeded with the sheet.

Kept apart from :mod:`bulkpatch.engine.target` so that a run against the real API never imports
the simulator (its aiohttp server, its models and its fault tables): ``api_target`` imports this
module only when ``--simulate`` is given.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bulkpatch.core.errors import StorageError, UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.rows import CampaignKey
from bulkpatch.simulator import (
    SimulatorConfig,
    SimulatorState,
    SnapshotError,
    load_state,
    save_state,
    serve_simulator,
)

if TYPE_CHECKING:
    from bulkpatch.transport.keysfile import ResolvedKey


@asynccontextmanager
async def simulated_target(
    options: RunOptions,
    keys: Sequence[tuple[CampaignKey, dict[str, Any]]],
    org_keys: Mapping[str, ResolvedKey] | None = None,
    *,
    save_to: Path | None = None,
) -> AsyncIterator[tuple[str, str]]:
    """(base URL, key) of a simulator started here seeded with ``keys`` (each campaign with its
    ``expect.`` guards, so that they hold) -- or, with ``options.simulator_state``, holding the
    campaigns of that file.  Its campaigns are written to ``save_to`` (and back to
    ``options.simulator_state``) when the block ends."""
    config = _simulator_config(options, keys, org_keys)
    state = None
    if options.simulator_state is not None:
        try:
            state = load_state(options.simulator_state, config)
        except (OSError, SnapshotError) as exc:
            raise UsageError(f"cannot start the simulator from {exc}") from None
    async with serve_simulator(config, state=state) as sim:
        try:
            yield sim.base_url, config.api_key
        except BaseException:
            with contextlib.suppress(StorageError):  # the error that ended the block comes first
                _save_all(sim.state, save_to, options.simulator_state)
            raise
        _save_all(sim.state, save_to, options.simulator_state)


def _save_all(state: SimulatorState, *paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            _save(state, path)


def _save(state: SimulatorState, path: Path) -> None:
    try:
        save_state(state, path)
    except OSError as exc:
        raise StorageError(
            f"cannot write the simulator's campaigns to {path}: {exc.strerror or exc}"
        ) from None


def _simulator_config(
    options: RunOptions,
    keys: Sequence[tuple[CampaignKey, dict[str, Any]]],
    org_keys: Mapping[str, ResolvedKey] | None,
) -> SimulatorConfig:
    """The in-process simulator's config: a fresh key, the sheet's campaigns with their guards
    (unused when it starts from a state file), each org's key accepted for that org."""
    key = "sim-" + secrets.token_hex(8)
    campaigns: list[CampaignKey] = []
    overrides: dict[CampaignKey, dict[str, Any]] = {}
    for row_key, expects in keys:
        campaigns.append(row_key)
        if expects:
            overrides[row_key] = dict(expects)
    by_key: dict[str, set[str]] = {}
    for org, resolved in (org_keys or {}).items():
        by_key.setdefault(resolved.key, set()).add(org)
    return SimulatorConfig(
        api_key=key,
        extra_api_keys=tuple(k for k in by_key if k != key),
        key_orgs={k: frozenset(orgs) for k, orgs in by_key.items()},
        seed=options.seed,
        campaigns=tuple(campaigns),
        overrides=overrides,
    )
