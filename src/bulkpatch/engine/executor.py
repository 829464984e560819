"""Carrying a :class:`~bulkpatch.engine.planner.RowPlan` out: reads, PATCHes, pauses and resumes.

The executor decides nothing about a row (the planner did); it sends what the plan says through
:func:`~bulkpatch.transport.retries.send_with_retries` and reports what happened as an
:class:`Execution`, which ``results.row_result`` turns into the row's outcome.

Two promises hold here:

* a write is journaled (``sent``) before it leaves, and a write whose outcome is unknown is read
  back before anything is sent again;
* a campaign this run paused is resumed -- in a shielded scope, also when the run is cancelled --
  or named loudly as left paused (and kept in the journal, so ``resume`` picks it up).  Once a
  resume is refused for good (an org's limit of live campaigns, say), no more campaigns of that
  org are paused.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio

from bulkpatch.core.rows import CampaignKey, RowChange
from bulkpatch.core.text import cap, printable
from bulkpatch.core.values import holds
from bulkpatch.engine.planner import Patch, PausePatchResume, PlanOptions, RowPlan, other_campaign
from bulkpatch.transport.client import ApiClient
from bulkpatch.transport.replies import Kind, Reply
from bulkpatch.transport.retries import (
    Check,
    ReadBack,
    RetryPolicy,
    Sent,
    backoff_delay,
    send_with_retries,
)
from bulkpatch.transport.retrybudget import RetryBudget

#: Statuses a campaign may show once resumed (it turns active on its own inside its window).
RESUMED_STATUSES = frozenset({"scheduled", "active"})
#: How long a campaign this run paused is tried to be resumed while the row ends or the run is
#: being stopped (seconds).  After the run, campaigns still paused get up to --max-outage more.
RESUME_DEADLINE = 60.0
#: Reads of a campaign whose answers name another campaign before a read-back gives up.
WRONG_CAMPAIGN_READS = 3


class Journal(Protocol):
    """What the executor writes: ``sent`` must reach the OS before the write goes out."""

    def write(self, event: str, *, flush: bool = True, **fields: Any) -> bool: ...


@dataclass
class RunControl:
    """Shared run state: why the run stops (if it does), and what is paused right now."""

    stop_reason: str = ""
    #: Exit code 3 when set: the run was aborted (bad key, outage, interrupt, storage).
    aborted: bool = False
    #: Campaigns this run paused and has not resumed yet: key -> row.
    paused_now: dict[CampaignKey, int] = field(default_factory=dict)
    #: Campaigns this run paused and could not resume: key -> (row, why).
    left_paused: dict[CampaignKey, tuple[int, str]] = field(default_factory=dict)
    plan_options: PlanOptions = field(default_factory=PlanOptions)
    #: Orgs where pausing stopped (a resume there was refused for good: the org's limit of
    #: live campaigns, or its key) -> why.  Other orgs go on pausing.
    no_pause: dict[str, str] = field(default_factory=dict)
    #: Keys the API refused, by label ("the key for org org-a") -> why.
    refused_keys: dict[str, str] = field(default_factory=dict)

    @property
    def stopping(self) -> bool:
        return bool(self.stop_reason)

    def stop(self, reason: str, *, abort: bool = True) -> None:
        if not self.stop_reason:
            self.stop_reason = reason
        self.aborted = self.aborted or abort

    def give_up_refused(self, refusal: Callable[[CampaignKey], str]) -> dict[str, int]:
        """Campaigns left paused whose key was refused (``refusal(key)`` says why) can send
        nothing more: say so in their why.  Returns how many per refusal."""
        counts: dict[str, int] = {}
        for key, (row, why) in list(self.left_paused.items()):
            refused = refusal(key)
            if refused:
                self.left_paused[key] = (row, refused_why(why, refused))
                counts[refused] = counts.get(refused, 0) + 1
        return counts

    def stop_pausing(self, org_id: str, reason: str) -> None:
        """No more campaigns of ``org_id`` are paused in this run (the first reason stays)."""
        self.no_pause.setdefault(org_id, reason)

    def options_for(self, org_id: str) -> PlanOptions:
        """How to plan a row of ``org_id``."""
        why = self.no_pause.get(org_id)
        if not why:
            return self.plan_options
        return PlanOptions(pause_active=self.plan_options.pause_active, no_pause_reason=why)


def still_paused(control: RunControl) -> str:
    """``"; N campaign(s) this run paused are LEFT PAUSED: key (why); ..."`` naming every one
    (why capped), or "" when none is: for a message that ends the run early."""
    left = control.left_paused
    if not left:
        return ""
    named = "; ".join(f"{key} ({cap(printable(why), 120)})" for key, (_, why) in left.items())
    return f"; {len(left)} campaign(s) this run paused are LEFT PAUSED: {named}"


def refused_why(why: str, refusal: str) -> str:
    """Why a campaign stays paused once its key was refused (``refusal`` said once)."""
    if refusal in why:
        return f"{why}; it cannot be resumed with that key"
    return f"{why}; {refusal}, so it cannot be resumed"


@dataclass(frozen=True, slots=True)
class StatusStep:
    """A pause or a resume: the last reply, and whether the campaign is now where we wanted it
    (True, False, or None when nobody can tell)."""

    reply: Reply
    reached: bool | None


@dataclass(frozen=True, slots=True)
class Execution:
    """What happened when a plan was carried out."""

    patch: Sent | None = None
    pause: StatusStep | None = None
    #: A campaign this row paused could not be resumed: why (it is LEFT PAUSED).
    left_paused: str = ""


class Executor:
    """Sends what plans say, with retries, journaling and the pause/resume promise."""

    def __init__(
        self,
        client: ApiClient,
        *,
        control: RunControl,
        budget: RetryBudget,
        journal: Journal | None,
        max_attempts: int = 5,
        on_retry: Callable[[Reply], None] = lambda reply: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._client = client
        self._control = control
        self._budget = budget
        self._journal = journal
        self._clock = clock
        self._sleep = sleep
        self._policy = RetryPolicy(
            max_attempts=max_attempts,
            sleep=sleep,
            uniform=uniform,
            permit=self._permit,
            on_retry=on_retry,
        )

    async def _permit(self) -> bool:
        control = self._control
        if control.stopping:
            return False
        return await self._budget.permit(give_up=lambda: control.stopping)

    def _persisting(self, deadline: float) -> RetryPolicy:
        """Retries that go on while the run stops (until ``deadline`` on the clock)."""

        async def until_deadline() -> bool:
            return self._clock() < deadline

        return RetryPolicy(
            max_attempts=self._policy.max_attempts,
            sleep=self._policy.sleep,
            uniform=self._policy.uniform,
            permit=until_deadline,
            on_retry=self._policy.on_retry,
        )

    def _log(self, event: str, **fields: Any) -> bool:
        if self._journal is None:
            return True
        return self._journal.write(event, **fields)

    # -- reads ---------------------------------------------------------------------------------

    async def read(self, key: CampaignKey, policy: RetryPolicy | None = None) -> Sent:
        """GET a campaign, with retries."""
        return await send_with_retries(
            lambda: self._client.get_campaign(key), policy=policy or self._policy
        )

    async def _look(
        self, key: CampaignKey, test: Callable[[Mapping[str, Any]], bool], policy: RetryPolicy
    ) -> ReadBack:
        for _ in range(WRONG_CAMPAIGN_READS):
            got = await self.read(key, policy)
            data = got.reply.data
            if not (got.reply.ok and isinstance(data, Mapping)):
                return ReadBack(Check.UNCLEAR, got.reply)
            wrong = other_campaign(data, key)
            if not wrong:
                return ReadBack(Check.HOLDS if test(data) else Check.ABSENT, got.reply)
            # Another campaign's answer says nothing of this one: read again, and if it keeps
            # coming, nobody can tell (the row stays in doubt; nothing is taken from it).
        unclear = Reply("GET", Kind.TRANSIENT, message=f"reading back: {wrong}")
        return ReadBack(Check.UNCLEAR, unclear)

    # -- plans ---------------------------------------------------------------------------------

    async def carry_out(self, plan: RowPlan, change: RowChange) -> Execution:
        """Send what ``plan`` says.  Plans that send nothing come back as an empty Execution."""
        if isinstance(plan, PausePatchResume):
            return await self._pause_patch_resume(plan, change)
        if isinstance(plan, Patch):
            return Execution(patch=await self.patch(plan, change))
        return Execution()

    async def patch(self, plan: Patch, change: RowChange) -> Sent:
        key, row = change.key, change.row
        fields = list(plan.changed_fields)

        def journal_sent(attempt: int) -> bool:
            return self._log(
                "sent",
                row=row,
                key=str(key),
                op="patch",
                attempt=attempt,
                fields=fields,
                before=plan.before,
            )

        return await send_with_retries(
            lambda: self._client.patch_campaign(key, plan.body),
            policy=self._policy,
            read_back=lambda: self._look(key, lambda c: holds(c, change.changes), self._policy),
            on_send=journal_sent,
        )

    async def set_status(
        self, key: CampaignKey, row: int, action: str, policy: RetryPolicy | None = None
    ) -> StatusStep:
        """PUT a status change; anything but a clear success is settled by reading the status.

        A lost answer may hide a change that was made, and a transport that re-sends a PUT on
        its own gets a refusal ("already paused") for a change that was made: both are read back.
        """
        policy = policy or self._policy
        targets = frozenset({"paused"}) if action == "pause" else RESUMED_STATUSES

        def reached(campaign: Mapping[str, Any]) -> bool:
            return campaign.get("status") in targets

        if not self._log("sent", row=row, key=str(key), op=action) and action != "resume":
            # A pause that cannot be journaled is not sent.  A resume is sent all the same: a
            # campaign this run paused must not stay paused because the disk is full (its
            # journal line is best effort; a later ``resume`` finds the campaign live).
            return StatusStep(Reply("PUT", Kind.STOPPED, message="not sent: journal"), False)
        sent = await send_with_retries(
            lambda: self._client.set_status(key, action),
            policy=policy,
            read_back=lambda: self._look(key, reached, policy),
        )
        if sent.reply.ok or sent.confirmed:
            return StatusStep(sent.reply, True)
        if sent.unsettled or sent.reply.kind is Kind.STOPPED:
            return StatusStep(sent.reply, None if sent.unsettled else False)
        if sent.reply.kind is Kind.REJECTED:
            # "Already paused"? Look before believing the refusal.
            looked = await self._look(key, reached, policy)
            if looked.check is Check.HOLDS:
                return StatusStep(looked.reply, True)
            return StatusStep(sent.reply, False if looked.check is Check.ABSENT else None)
        return StatusStep(sent.reply, False)

    async def _pause_patch_resume(self, plan: PausePatchResume, change: RowChange) -> Execution:
        key, row = change.key, change.row
        paused = await self.set_status(key, row, "pause")
        if paused.reached is False:
            self._log("pause_refused", row=row, key=str(key))
            return Execution(pause=paused)
        if paused.reached is None:
            # Nobody can tell whether the pause went through: resume it to be sure (resuming a
            # campaign that is not paused is refused, and the read-back then says it is live).
            self._control.paused_now[key] = row
            why = await self.resume_shielded(key, row)
            return Execution(pause=paused, left_paused=why)
        self._log("paused", row=row, key=str(key))
        self._control.paused_now[key] = row
        sent: Sent | None = None
        why = "the resume was never attempted"
        try:
            sent = await self.patch(plan, change)
        finally:
            # Runs when cancelled too: a campaign we paused is never left paused silently.
            why = await self.resume_shielded(key, row)
        return Execution(patch=sent, pause=paused, left_paused=why)

    async def resume_earlier(
        self, paused: dict[str, int], *, notice: Callable[[str, str], None]
    ) -> set[int]:
        """Campaigns an earlier session paused and did not resume (``"org/ws/campaign"`` ->
        row): resume them first.  Returns the rows whose campaigns were resumed."""
        resumed: set[int] = set()
        for name, row in paused.items():
            why = await self.resume_shielded(CampaignKey.parse(name), row)
            if why:
                notice("error", f"could not resume {name}: {why}")
            else:
                resumed.add(row)
                notice("info", f"resumed {name}, which the interrupted run had paused")
        return resumed

    async def resume_shielded(self, key: CampaignKey, row: int) -> str:
        """Resume a campaign this run paused, shielded from cancellation, trying until
        :data:`RESUME_DEADLINE`.  Returns "" when done, else why it failed (LEFT PAUSED)."""
        why = f"no answer within {RESUME_DEADLINE:g} s"
        with anyio.CancelScope(shield=True):
            policy = self._persisting(self._clock() + RESUME_DEADLINE)
            with anyio.move_on_after(RESUME_DEADLINE * 2):
                why = await self._resume(key, row, policy)
        control = self._control
        control.paused_now.pop(key, None)
        if why:
            control.left_paused[key] = (row, why)
        else:
            control.left_paused.pop(key, None)
        return why

    async def _resume(self, key: CampaignKey, row: int, policy: RetryPolicy) -> str:
        step = await self.set_status(key, row, "resume", policy)
        if step.reached:
            # The stamp after the resume: ``undo`` guards the campaign with it.
            data = step.reply.data
            stamp = data.get("updated_at") if isinstance(data, Mapping) else None
            self._log("resumed", row=row, key=str(key), updated_at=stamp)
            return ""
        reply = step.reply
        if reply.kind.refusal:
            self._control.stop_pausing(
                key.org_id,
                f"resuming {key} was refused ({reply.describe()}), so bulkpatch pauses no more "
                f"campaigns of org {key.org_id} in this run",
            )
        return reply.describe()

    async def resume_left_paused(
        self,
        left: Mapping[CampaignKey, int],
        *,
        within: float,
        refused: Callable[[CampaignKey], str] | None = None,
        give_up: Callable[[], bool] = lambda: False,
    ) -> dict[CampaignKey, str]:
        """Try to resume campaigns still paused, again and again with backoff, for ``within``
        seconds (or until ``give_up()``: the run is interrupted).  Returns the ones that stay
        paused, with why.  ``refused(key)`` says why a campaign's key can send nothing more
        (its API key was refused): it is given up at once."""
        deadline = self._clock() + within
        pending = dict(left)
        failed: dict[CampaignKey, str] = {}
        given_up: dict[CampaignKey, tuple[int, str]] = {}
        attempt = 0

        def key_refused(key: CampaignKey) -> str:
            return refused(key) if refused is not None else ""

        while pending:
            for key, row in list(pending.items()):
                if not key_refused(key):
                    with anyio.CancelScope(shield=True):
                        why = await self._resume(key, row, self._persisting(self._clock()))
                    if not why:
                        pending.pop(key)
                        failed.pop(key, None)
                        self._control.left_paused.pop(key, None)
                        continue
                    failed[key] = why
                refusal = key_refused(key)
                if refusal:  # that key can send nothing more: give up now, not at the deadline
                    earlier = self._control.left_paused.get(key, (row, "not resumed"))[1]
                    why = failed.pop(key, "") or earlier
                    given_up[key] = (pending.pop(key), refused_why(why, refusal))
                    self._control.left_paused[key] = given_up[key]
            if not pending or self._clock() >= deadline or give_up():
                break
            attempt += 1
            delay = backoff_delay(attempt, uniform=lambda low, high: high)
            await self._sleep(min(delay, max(0.0, deadline - self._clock())))
            if give_up():
                break
        for key, why in failed.items():
            if key in pending:
                self._control.left_paused[key] = (pending[key], why)
        stay = {k: v for k, v in failed.items() if k in pending}
        stay.update({k: why for k, (_, why) in given_up.items()})
        return stay
