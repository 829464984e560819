"""What a run is asked to do: :class:`RunOptions` (never the key itself)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from bulkpatch.core.errors import UsageError
from bulkpatch.core.maxerrors import check_safeguards
from bulkpatch.core.urls import DEFAULT_BASE_URL
from bulkpatch.core.windows import WindowError, zoned_window

DEFAULT_KEY_ENV = "SARVAM_API_KEY"
DEFAULT_RATE = 10.0
#: The rate ``--simulate`` uses when none is given: the demo finishes in seconds and still shows
#: the pacer at work.
SIMULATE_RATE = 100.0
#: ``RunOptions.rate`` when none is given: :func:`default_rate` of ``simulate`` (a float, so that
#: the field stays ``float | None``; any rate given is above 0).
RATE_NOT_GIVEN = -1.0


def default_rate(simulate: bool) -> float:
    """The rate when none is given, for the library and the command line alike: a gentle
    :data:`DEFAULT_RATE` against an API, :data:`SIMULATE_RATE` against the simulator."""
    return SIMULATE_RATE if simulate else DEFAULT_RATE


#: Marks, in a journal, a ``--rate-store`` URL whose password was left out.
HIDDEN_STORE = "(password not stored) "


def url_has_password(url: str) -> bool:
    """Whether ``url`` carries a password (in its user part or as a ``password=`` parameter)."""
    try:
        parts = urlsplit(url)
        secret = parts.password
    except ValueError:
        return "@" in url
    return bool(secret) or "password" in {k.lower() for k, _ in parse_qsl(parts.query)}


def without_password(url: str) -> str:
    """``url`` with no user part and no query (where a password can be)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(an unreadable URL)"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}{port}{parts.path}"


#: Options that shape the plan itself: ``run --plan`` takes them from the plan, and refuses a
#: different value given on its command line.
BINDING_OPTIONS = (
    "org",
    "workspace",
    "fmt",
    "sheet_name",
    "base_url",
    "simulate",
    "pause_active",
    "seed",
)


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Options of ``plan``, ``run`` and ``resume``; every field is keyword-only.

    ``rate=None`` means no limit.  Paths are kept as given; :meth:`for_journal` makes them
    absolute so that ``resume`` works from any directory.
    """

    org: str | None = None
    workspace: str | None = None
    fmt: Literal["csv", "parquet", "xlsx"] | None = None
    sheet_name: str | None = None
    base_url: str = DEFAULT_BASE_URL
    simulate: bool = False
    api_key_env: str = DEFAULT_KEY_ENV
    api_key_file: Path | None = None
    #: Requests per second at most; None: no limit; not given: :func:`default_rate`.
    rate: float | None = RATE_NOT_GIVEN
    concurrency: int = 8
    max_attempts: int = 5
    timeout: float = 30.0
    max_outage: float = 600.0
    report_dir: Path = Path("reports")
    pause_active: bool = False
    skip_invalid: bool = False
    no_read: bool = False
    #: Seeds the ``--simulate`` population.
    seed: int = 0
    #: With ``simulate``: start the simulator from the campaigns in this file (a run's
    #: ``simulator-state.json``) instead of the sheet's, and write its final state back there.
    simulator_state: Path | None = None
    #: Each org's key from this file (``--keys-file``), each with its own pacer and breaker.
    keys_file: Path | None = None
    #: ``"K/N"``: apply only the rows of shard K of N (``bulkpatch.core.shards``).
    shard: str | None = None
    #: ``redis://HOST:PORT/DB``: share one ``rate`` ceiling with every process using it.
    rate_store: str | None = None
    #: POST the summary here at the end (a secret: never journaled).
    notify_url: str | None = None
    notify_format: Literal["json", "slack"] = "json"
    #: Push the run's gauges to this Prometheus Pushgateway at the end.
    pushgateway: str | None = None
    metrics_job: str = "bulkpatch"
    # -- the safe round trip (bulkpatch.engine.safeguards) ---------------------------------------
    #: Apply exactly the plan in this directory (``bulkpatch plan --out``), nothing else.
    plan_dir: Path | None = None
    #: Who approved the plan: recorded in the journal and summary.json.
    approved_by: str | None = None
    #: The plan's digest as the reviewer approved it (``--approved-digest``): the plan is applied
    #: only if its digest, computed from its files, is this one.
    approved_digest: str | None = None
    #: Apply this many rows that write, read them back, then stop (``--canary``).
    canary: int | None = None
    #: After a canary that held, go on instead of stopping.
    canary_continue: bool = False
    #: Stop the run (aborted, resumable) past this many rejected/failed rows: ``"N"`` or
    #: ``"N%"`` (``--max-errors``).
    max_errors: str | None = None
    # -- change windows (bulkpatch.engine.windowing) ---------------------------------------------
    #: ``"[DAYS ]HH:MM[:SS]-HH:MM[:SS][ ZONE]"``: send only inside it (kept with its zone).
    window: str | None = None
    #: Outside the window: exit 75 at once instead of waiting for it to open.
    no_wait: bool = False
    #: With ``pause_active``: pause an active campaign only outside its own calling hours.
    outside_calling_hours: bool = False
    #: Without a window: seconds a row inside its calling hours may wait for them to end.
    max_wait: float = 0.0

    def __post_init__(self) -> None:
        if self.rate == RATE_NOT_GIVEN:
            object.__setattr__(self, "rate", default_rate(self.simulate))
        for name in ("report_dir", "api_key_file", "keys_file", "plan_dir", "simulator_state"):
            value = getattr(self, name)
            if isinstance(value, str):  # from Python: a path given as text
                object.__setattr__(self, name, Path(value))
        if self.rate is not None and not self.rate > 0:
            raise UsageError("rate must be above 0 (None for no limit)")
        if self.concurrency < 1 or self.max_attempts < 1:
            raise UsageError("concurrency and max_attempts must be at least 1")
        if self.rate_store is not None and self.rate is None:
            raise UsageError("--rate-store shares a --rate: give a number, not unlimited")
        check_safeguards(self)
        self._check_windows()

    def _check_windows(self) -> None:
        if self.window is not None:
            try:
                object.__setattr__(self, "window", zoned_window(self.window))
            except WindowError as exc:
                raise UsageError(str(exc)) from None
        if self.outside_calling_hours and not self.pause_active:
            raise UsageError(
                "--outside-calling-hours says when --pause-active may pause a campaign: "
                "give --pause-active too"
            )
        if not self.max_wait >= 0:
            raise UsageError("--max-wait must be 0 or more")

    def for_journal(self) -> dict[str, Any]:
        """The options as plain values, paths made absolute; never a secret (the notify URL
        is a webhook's secret: only whether one was given is kept; a rate store's URL that
        holds a password is kept without it, marked so that resuming asks for it again)."""
        data = asdict(self)
        data["notify_url"] = "(given)" if self.notify_url else None
        if self.rate_store is not None and url_has_password(self.rate_store):
            data["rate_store"] = HIDDEN_STORE + without_password(self.rate_store)
        return {k: (str(v.resolve()) if isinstance(v, Path) else v) for k, v in data.items()}

    @classmethod
    def from_journal(cls, stored: dict[str, Any], **overrides: Any) -> RunOptions:
        """Options a journal recorded (unknown names from other versions are ignored)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in stored.items() if k in known}
        for name in ("report_dir", "api_key_file", "keys_file", "plan_dir", "simulator_state"):
            if values.get(name) is not None:
                values[name] = Path(values[name])
        values.pop("notify_url", None)  # a secret: given again on resume
        stored_store = values.get("rate_store")
        if isinstance(stored_store, str) and stored_store.startswith(HIDDEN_STORE):
            if overrides.get("rate_store") is None:
                raise UsageError(
                    "the run shared its rate through a store whose URL holds a password, which "
                    f"is never stored ({stored_store[len(HIDDEN_STORE) :]}): give --rate-store "
                    "again, the same store, to resume it"
                )
            values["rate_store"] = overrides["rate_store"]
        return replace(cls(**values), **overrides)
