"""Where a run sends, and through which lanes.

* :func:`api_target` -- the real API, or the embedded simulator seeded with the sheet (and, with a
  keys file, accepting each org's key for that org).
* :class:`Lanes` -- one :class:`~bulkpatch.transport.client.Lane` per API key: its pacer at
  ``--rate`` (or the keys file's rate for it), its breaker, its key guard, and with ``--rate-store``
  its share of a rate kept in Redis.  Without ``--keys-file`` there is one lane for every org.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bulkpatch.core.errors import BulkpatchError, UsageError
from bulkpatch.core.options import RunOptions
from bulkpatch.core.rows import CampaignKey
from bulkpatch.core.timing import Timing
from bulkpatch.core.urls import check_base_url
from bulkpatch.transport.breaker import Breaker
from bulkpatch.transport.client import DEFAULT_LABEL, Lane
from bulkpatch.transport.keysfile import ResolvedKey, load_keys_file, resolve_keys
from bulkpatch.transport.pacing import Pacer


def read_keys(options: RunOptions) -> dict[str, ResolvedKey]:
    """Each org's key from ``--keys-file`` (empty without one).  Usage errors say what is wrong
    and never show a key."""
    if options.keys_file is None:
        return {}
    keys = resolve_keys(load_keys_file(options.keys_file), os.environ)
    if options.rate_store:
        check_shared_rates(keys, options.keys_file)
    return keys


def check_shared_rates(keys: Mapping[str, ResolvedKey], keys_file: object) -> None:
    """With ``--rate-store`` every key's rate is a ceiling shared through the store, so none
    may be unlimited: :class:`UsageError` naming the orgs that ask for no limit."""
    unlimited = sorted(org for org, key in keys.items() if key.rate == math.inf)
    if unlimited:
        more = len(unlimited) - 10
        shown = ", ".join(unlimited[:10]) + (f" and {more} more" if more > 0 else "")
        raise UsageError(
            f"--rate-store shares each key's rate, but {keys_file} gives org(s) {shown} "
            'rate = "unlimited", which cannot be shared. Give those orgs a number of requests '
            "per second in the keys file (or leave rate out to use --rate), or run without "
            "--rate-store. Nothing was sent."
        )


@asynccontextmanager
async def api_target(
    options: RunOptions,
    api_key: str,
    keys: Sequence[tuple[CampaignKey, dict[str, Any]]],
    org_keys: Mapping[str, ResolvedKey] | None = None,
    *,
    save_to: Path | None = None,
) -> AsyncIterator[tuple[str, str]]:
    """(base URL, key): the real API, or with ``--simulate`` a simulator started here (see
    :func:`~bulkpatch.engine.simulated.simulated_target`)."""
    if not options.simulate:
        yield check_base_url(options.base_url), api_key
        return
    # start-up cost: the simulator (an aiohttp server, its tables) loads only for --simulate
    from bulkpatch.engine.simulated import simulated_target

    async with simulated_target(options, keys, org_keys, save_to=save_to) as target:
        yield target


def make_lane(
    options: RunOptions,
    api_key: str,
    timing: Timing,
    *,
    label: str,
    on_give_up: Callable[[str], None],
    rate: float | str | None = "options",
) -> Lane:
    """A key's lane: a pacer at ``rate`` (``"options"``: ``--rate``; None: unlimited) and a
    breaker."""
    ceiling = options.rate if isinstance(rate, str) else rate
    return Lane(
        label=label,
        api_key=api_key,
        pacer=Pacer(ceiling, clock=timing.clock, sleep=timing.sleep),
        breaker=Breaker(
            max_outage=options.max_outage,
            on_give_up=on_give_up,
            clock=timing.clock,
            sleep=timing.sleep,
        ),
    )


@dataclass
class Lanes:
    """Every key's lane, and which lane each org's rows take."""

    default: Lane | None
    by_org: dict[str, Lane] = field(default_factory=dict)
    _stores: list[Any] = field(default_factory=list)

    def __call__(self, org_id: str) -> Lane:
        lane = self.by_org.get(org_id, self.default)
        if lane is None:  # every org was checked to have a key before the run started
            raise LookupError(f"no key for org {org_id!r}")
        return lane

    def all(self) -> list[Lane]:
        lanes = list(dict.fromkeys(self.by_org.values()))
        if self.default is not None and self.default not in lanes:
            lanes.insert(0, self.default)
        return lanes

    @property
    def several(self) -> bool:
        return len(self.all()) > 1

    async def share_rate(
        self,
        url: str,
        base_url: str,
        *,
        max_outage: float,
        timing: Timing,
        on_outage: Callable[[str], None],
        on_recover: Callable[[], None],
    ) -> str:
        """Give every lane its share of a rate kept in a Redis store (``--rate-store``).  A
        store that cannot be had (unreachable for ``max_outage``, or refusing us) leaves every
        lane unable to send and returns why ("" when shared)."""
        # Imported here: redis is slow to import, and only a run with --rate-store needs it.
        from bulkpatch.transport.ratestore import (
            RateStoreUnavailable,
            open_rate_store,
            rate_key_name,
        )

        try:
            for lane in self.all():
                rate = lane.pacer.ceiling
                assert rate is not None  # --rate-store with an unlimited rate is a usage error
                store = await open_rate_store(
                    url,
                    key_name=rate_key_name(base_url, lane.api_key),
                    rate=rate,
                    max_outage=max_outage,
                    clock=timing.clock,
                    sleep=timing.sleep,
                    on_outage=on_outage,
                    on_recover=on_recover,
                    slack=functools.partial(getattr, lane.pacer, "slack"),
                )
                self._stores.append(store)
                lane.shared = store
        except RateStoreUnavailable as exc:
            self.without_store(str(exc))
            return str(exc)
        return ""

    def refusal(self, org_id: str) -> str:
        """Why no request for ``org_id`` can be sent any more: its key was refused ("" if not)."""
        try:
            lane = self(org_id)
        except LookupError:
            return ""
        if not lane.guard.refused:
            return ""
        return f"the API refused {lane.label} ({lane.guard.refused})"

    def without_store(self, why: str) -> None:
        """The rate store failed before the run began: every lane's requests stop unsent with
        ``why`` (none may go out under a rate that is not shared)."""
        for lane in self.all():
            lane.shared = _NoStore(why)

    async def aclose(self) -> None:
        for store in self._stores:
            await store.aclose()
        self._stores.clear()


@dataclass(frozen=True)
class _NoStore:
    """A shared rate that can never be had: its store failed before the run began."""

    why: str

    async def acquire(self) -> None:
        raise BulkpatchError(self.why)


def build_lanes(
    options: RunOptions,
    api_key: str,
    org_keys: Mapping[str, ResolvedKey],
    timing: Timing,
    *,
    on_give_up: Callable[[str], None],
) -> Lanes:
    """One lane for the run's key, or one per distinct key of a keys file (orgs sharing a key
    share its lane, at the lowest rate any of them asks for)."""
    if not org_keys:
        return Lanes(
            make_lane(options, api_key, timing, label=DEFAULT_LABEL, on_give_up=on_give_up)
        )
    grouped: dict[str, list[ResolvedKey]] = {}
    for resolved in org_keys.values():
        grouped.setdefault(resolved.fingerprint, []).append(resolved)
    lanes = Lanes(None)
    for group in grouped.values():
        orgs = sorted(r.org_id for r in group)
        rates = [r.rate for r in group if r.rate is not None]
        rate = min(rates) if rates else options.rate
        if rate is not None and math.isinf(rate):
            rate = None
        label = (
            f"the key for org {orgs[0]}"
            if len(orgs) == 1
            else ("the key for orgs " + ", ".join(orgs))
        )
        lane = make_lane(
            options, group[0].key, timing, label=label, on_give_up=on_give_up, rate=rate
        )
        for org in orgs:
            lanes.by_org[org] = lane
    return lanes
