"""Sheets the benchmark feeds to bulkpatch, the minimal script, xargs and the simulator.

Campaign ids follow the simulator's ``--generate N`` naming (``cmp-000001``, six digits or more),
so a simulator started with ``--generate N`` (or seeded from the sheet) knows every row.
"""

from __future__ import annotations

from pathlib import Path

ORG = "org-demo"
WORKSPACE = "ws-demo"


def campaign_id(number: int, total: int) -> str:
    """The simulator's id for generated campaign ``number`` of ``total``."""
    width = max(6, len(str(total)))
    return f"cmp-{number:0{width}d}"


def write_name_sheet(path: Path, rows: int, tag: str, *, total: int | None = None) -> Path:
    """``rows`` rows, each renaming one campaign to ``<tag> <n>`` (a top-level change).

    ``total`` is the size of the simulator's population (it decides the ids' width).

    A new ``tag`` per run makes every name differ from the campaign's current one, so a run
    that reads first still has something to send.
    """
    if not tag.replace(" ", "").replace("-", "").replace("_", "").isalnum() or len(tag) > 30:
        raise ValueError(f"tag {tag!r} would not make a valid campaign name")
    total = total or rows
    lines = ["org_id,workspace_id,campaign_id,name"]
    lines.extend(f"{ORG},{WORKSPACE},{campaign_id(n, total)},{tag} {n}" for n in range(1, rows + 1))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_ids(path: Path, rows: int, total: int) -> Path:
    """The first ``rows`` campaign ids of a population of ``total``, one a line (for xargs)."""
    path.write_text(
        "".join(f"{campaign_id(n, total)}\n" for n in range(1, rows + 1)), encoding="utf-8"
    )
    return path


_STARTS = ("08:00", "09:00", "09:30", "10:00")
_ENDS = ("17:00", "18:00", "19:00", "20:30")
_DAYS = ('"Mon,Tue,Wed,Thu,Fri"', "Mon-Sat", '"Monday; Wednesday; Friday"', "Mon-Fri")
_STATUS = ("paused", "scheduled", "", "")


def write_validate_sheet(path: Path, rows: int) -> Path:
    """A realistic schedule-change sheet for ``bulkpatch validate``: every row valid.

    Columns: the keys, a new name, a time window, days in several spellings, an
    ``expect.status`` guard on half the rows and a note column.
    """
    header = (
        "org_id,workspace_id,campaign_id,name,allowed_schedule.allowed_start_time,"
        "allowed_schedule.allowed_end_time,allowed_schedule.allowed_days,expect.status,#note"
    )
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(header + "\n")
        chunk: list[str] = []
        for n in range(1, rows + 1):
            k = n % 4
            chunk.append(
                f"{ORG},{WORKSPACE},{campaign_id(n, rows)},Campaign {n},{_STARTS[k]},"
                f"{_ENDS[(n // 4) % 4]},{_DAYS[(n // 16) % 4]},{_STATUS[(n // 2) % 4]},"
                f"batch {n // 1000}\n"
            )
            if len(chunk) >= 50_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
    return path
