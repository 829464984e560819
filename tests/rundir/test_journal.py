"""The journal survives a crash in the middle of a line, and its lines are written in batches:
one flush per turn of the event loop, before any write they stand for goes out."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from bulkpatch.rundir.journal import JournalWriter, read_journal
from bulkpatch.rundir.names import JOURNAL


def test_a_line_cut_short_by_a_crash_is_ignored_and_the_next_writer_starts_a_new_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.write("start", sha256="abc")
    writer.write("sent", row=1, key="o/w/c1", op="patch")
    writer.write("done", row=1, outcome="updated")
    writer.write("sent", row=2, key="o/w/c2", op="patch")
    writer.close()
    with path.open("a") as f:
        f.write('{"e":"done","row":2,"outc')  # kill -9 mid-line
    again = JournalWriter(path)
    again.write("paused", row=3, key="o/w/c3")
    again.close()

    state = read_journal(path)
    assert state.start is not None
    assert state.start["sha256"] == "abc"
    assert set(state.done) == {1}
    assert set(state.in_doubt) == {2}
    assert state.paused == {"o/w/c3": 3}
    assert state.bad_lines == 1


def test_a_resumed_campaign_is_no_longer_paused_and_a_row_sent_again_is_in_doubt_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.write("paused", row=1, key="o/w/c1")
    writer.write("resumed", row=1, key="o/w/c1")
    writer.write("done", row=2, outcome="not_attempted")
    writer.write("sent", row=2, key="o/w/c2", op="patch")
    writer.close()
    state = read_journal(path)
    assert state.paused == {}
    assert set(state.in_doubt) == {2}
    assert 2 not in state.done


def test_journal_files_are_private(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    JournalWriter(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_pause_whose_answer_never_came_counts_as_paused_until_resumed_or_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.write("sent", row=1, key="o/w/c1", op="pause")  # killed before the answer
    writer.write("sent", row=2, key="o/w/c2", op="pause")
    writer.write("pause_refused", row=2, key="o/w/c2")
    writer.write("done", row=2, outcome="rejected")
    writer.write("sent", row=3, key="o/w/c3", op="pause")  # answer lost, row failed
    writer.write("done", row=3, outcome="failed")
    writer.close()
    assert read_journal(path).paused == {"o/w/c1": 1, "o/w/c3": 3}


def test_status_changes_do_not_take_a_finished_row_up_again(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    writer = JournalWriter(path)
    writer.write("done", row=1, outcome="rejected")
    writer.write("sent", row=1, key="o/w/c1", op="resume")  # a later resume of its campaign
    writer.write("resumed", row=1, key="o/w/c1")
    writer.close()
    state = read_journal(path)
    assert set(state.done) == {1}
    assert state.in_doubt == {}


async def test_lines_written_in_one_turn_of_the_loop_reach_the_os_in_one_flush_before_senders_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / JOURNAL
    journal = JournalWriter(path)
    flushes = 0
    batch = JournalWriter._flush_batch

    def counted(self: JournalWriter) -> None:
        nonlocal flushes
        flushes += 1
        batch(self)

    monkeypatch.setattr(JournalWriter, "_flush_batch", counted)
    seen: list[int] = []

    async def sender(row: int) -> None:
        assert journal.write("sent", flush=False, row=row, key=f"o/w/c{row}", op="patch")
        assert await journal.flushed()
        # what another process (a crash's resume) would read: every line of the batch
        seen.append(path.read_text(encoding="utf-8").count('"e":"sent"'))

    async with anyio.create_task_group() as tg:
        for row in range(1, 6):
            tg.start_soon(sender, row)

    assert seen == [5] * 5
    assert flushes == 1
    journal.close()


async def test_a_journal_that_cannot_be_written_lets_no_waiting_write_out(tmp_path: Path) -> None:
    journal = JournalWriter(tmp_path / JOURNAL)
    journal.write("sent", flush=False, row=1, key="o/w/c1", op="patch")
    journal._fail(OSError(28, "No space left on device"))

    assert await journal.flushed() is False
    journal.close()
