"""A nightly bulkpatch run with Airflow: one mapped task per shard, then a merge.

``run_shard`` is mapped over the shards (dynamic task mapping, ``.expand``): each task runs
``bulkpatch run SHEET --shard K/N`` on a worker that has bulkpatch installed, sees the shared
volume (``/data``) and reaches the Redis that keeps the shards under one ``--rate``.  Then
``merge`` combines the shards' run directories into one ``results.csv``, ``retry.csv`` and
``summary.json``; it runs even when a shard failed (``trigger_rule="all_done"``), so a night
with rejected rows still gets its merged report.

Every task of a DAG run writes under one report directory named after the run, which is how
the merge finds exactly this run's shards.

The key: the Airflow connection ``sarvam_scheduling`` holds it as its password (back it with
your secrets backend); Airflow fills ``SARVAM_API_KEY`` from it for the shard tasks only and
masks it in task logs.  Shards are tried once: a retry would start a second run of the shard;
a shard that stopped (exit 3) is continued with ``bulkpatch resume RUN_DIR``, then the merge
task is cleared to run again.

For Airflow 2.9+ and 3.
"""

from __future__ import annotations

import re
import shlex
from datetime import datetime, timedelta
from pathlib import Path

try:  # Airflow 3
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2.9+
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context

SHARDS = 4
SHEET = "/data/sheets/campaigns.csv"
REPORT_ROOT = "/data/reports"
RATE_STORE = "redis://bulkpatch-redis:6379/0"
#: Requests per second for all shards together (the rate store shares it).
RATE = "200"
#: Filled in by Airflow when the task runs; masked in its logs.
KEY_ENV = {"SARVAM_API_KEY": "{{ conn.sarvam_scheduling.password }}"}
#: Traces and metrics to the OpenTelemetry collector beside Airflow (docs/observability.md):
#: an OTLP endpoint turns them on. The run span is always kept; 5 % of the rows are traced.
OTEL_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
    "OTEL_SERVICE_NAME": "bulkpatch-nightly",
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.05",
}


def report_dir() -> str:
    """The report directory of the running DAG run: the same for every shard and the merge."""
    run_id = str(get_current_context()["run_id"])
    return f"{REPORT_ROOT}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', run_id)}"


@dag(
    dag_id="bulkpatch_nightly",
    schedule="30 1 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 0, "execution_timeout": timedelta(hours=6)},
    tags=["bulkpatch"],
)
def bulkpatch_nightly() -> None:
    @task.bash(env={**KEY_ENV, **OTEL_ENV}, append_env=True)
    def run_shard(shard: str) -> str:
        return shlex.join(
            [
                "bulkpatch",
                "run",
                SHEET,
                "--shard",
                shard,
                "--rate-store",
                RATE_STORE,
                "--rate",
                RATE,
                "--concurrency",
                "32",
                "--report-dir",
                report_dir(),
                "--log-format",
                "json",
            ]
        )

    @task.bash(trigger_rule="all_done")
    def merge() -> str:
        folder = Path(report_dir())
        shard_dirs = sorted(str(p) for p in folder.glob(f"*-shard-*-of-{SHARDS}") if p.is_dir())
        if not shard_dirs:
            raise RuntimeError(f"no shard run directory under {folder}: did any shard start?")
        return shlex.join(["bulkpatch", "merge", *shard_dirs, "--out", str(folder / "merged")])

    shards = [f"{k}/{SHARDS}" for k in range(1, SHARDS + 1)]
    run_shard.expand(shard=shards) >> merge()


bulkpatch_nightly()
