"""The honest best case: a minimal aiohttp script that PATCHes the rows of a sheet.

One ``ClientSession``, a fixed pool of ``--concurrency`` tasks pulling rows from a queue, no
validation, no retries, no journal unless asked.  It reads the same CSV ``bulkpatch run
--no-read`` reads (``org_id, workspace_id, campaign_id`` and top-level change columns) and
PATCHes each row's change columns as given.  With ``--read`` it first GETs each campaign and
parses the answer (what any script that merges a change into the campaign must do), then
PATCHes: the peer of ``bulkpatch run`` with reads.  With ``--journal FILE`` it also keeps the
least a tool that can resume after a crash must keep: before each PATCH a line naming it, written
and flushed (handed to the operating system), and after the answer, which it parses, a line with
its status and the values stored.  ``--uvloop`` runs it on uvloop (as bulkpatch runs where
uvloop is installed).  The API key comes from an environment variable and is never
printed.

Prints one JSON object on stdout: rows, seconds spent in the request loop, statuses.

    python tests/benchmarks/minimal_client.py SHEET --base-url URL --concurrency 32 [--read]
        [--journal FILE] [--uvloop]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import time
from collections import Counter
from typing import IO, Any

import aiohttp
from orjson import dumps  # the journal's writer, as bulkpatch's

KEY_COLUMNS = ("org_id", "workspace_id", "campaign_id")


def read_rows(path: str) -> list[tuple[str, bytes]]:
    """(URL path, JSON body) for every row of a CSV sheet."""
    rows: list[tuple[str, bytes]] = []
    with open(path, newline="", encoding="utf-8") as f:
        for record in csv.DictReader(f):
            org, ws, cid = (record[k] for k in KEY_COLUMNS)
            body = {k: v for k, v in record.items() if k not in KEY_COLUMNS and v}
            path_ = f"/v1/orgs/{org}/workspaces/{ws}/campaigns/{cid}"
            rows.append((path_, json.dumps(body, separators=(",", ":")).encode()))
    return rows


async def patch_all(
    rows: list[tuple[str, bytes]],
    base_url: str,
    api_key: str,
    concurrency: int,
    read: bool,
    journal: IO[bytes] | None = None,
) -> tuple[float, Counter[str]]:
    queue: asyncio.Queue[tuple[int, str, bytes]] = asyncio.Queue()
    for number, (path, body) in enumerate(rows, start=2):
        queue.put_nowait((number, path, body))
    statuses: Counter[str] = Counter()
    headers = {"X-API-Key": api_key, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url.rstrip("/") + "/", connector=connector) as session:

        async def worker() -> None:
            while True:
                try:
                    number, path, body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    if read:
                        async with session.get(path.lstrip("/"), headers=headers) as response:
                            json.loads(await response.read())
                            statuses[f"GET {response.status}"] += 1
                    if journal is not None:
                        journal.write(dumps({"sent": number, "path": path}) + b"\n")
                        journal.flush()
                    async with session.patch(
                        path.lstrip("/"), data=body, headers=headers
                    ) as response:
                        answer = await response.read()
                        statuses[f"PATCH {response.status}"] += 1
                    if journal is not None:
                        stored = json.loads(answer)
                        done = {"done": number, "status": response.status, "after": stored}
                        journal.write(dumps(done) + b"\n")
                except aiohttp.ClientError:
                    statuses["error"] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("sheet")
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--api-key-env", default="SARVAM_API_KEY")
    parser.add_argument("--read", action="store_true", help="GET each campaign before the PATCH.")
    parser.add_argument(
        "--journal",
        metavar="FILE",
        help="Write and flush a line before each PATCH, and one with the answer after it.",
    )
    parser.add_argument("--uvloop", action="store_true", help="Run on uvloop's event loop.")
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env, "")
    if not api_key:
        print(f"set {args.api_key_env}", file=sys.stderr)
        return 2
    rows = read_rows(args.sheet)
    journal = open(args.journal, "wb") if args.journal else None  # noqa: SIM115
    work = patch_all(rows, args.base_url, api_key, args.concurrency, args.read, journal)
    try:
        if args.uvloop:
            import uvloop

            elapsed, statuses = uvloop.run(work)
        else:
            elapsed, statuses = asyncio.run(work)
    finally:
        if journal is not None:
            journal.close()
    result: dict[str, Any] = {
        "rows": len(rows),
        "loop_seconds": round(elapsed, 4),
        "rows_per_second": round(len(rows) / elapsed, 1) if elapsed > 0 else None,
        "statuses": dict(statuses),
    }
    print(json.dumps(result))
    expected = {"GET 200", "PATCH 200"} if args.read else {"PATCH 200"}
    return 0 if set(statuses) == expected else 1


if __name__ == "__main__":
    sys.exit(main())
