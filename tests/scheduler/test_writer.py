"""The status writer: ordered, coalesced, flushed, and never the loser of a record."""

from __future__ import annotations

import os
from pathlib import Path

from orchestra.rundir import read_json
from orchestra.scheduler.writer import StatusWriter
from tests.helpers import wait_for


def test_every_file_ends_with_its_newest_record(tmp_path: Path):
    writer = StatusWriter()
    for i in range(500):
        writer.write(tmp_path / f"s{i % 7}.json", {"i": i})
    assert writer.flush(timeout=30)
    for k in range(7):
        assert read_json(tmp_path / f"s{k}.json") == {"i": max(i for i in range(500) if i % 7 == k)}
    assert writer.close() == {}


def test_flush_waits_for_a_write_in_progress(tmp_path: Path):
    writer = StatusWriter()
    writer.write(tmp_path / "a.json", {"big": "x" * 5_000_000})
    assert writer.flush(timeout=30)
    assert read_json(tmp_path / "a.json")["big"] == "x" * 5_000_000
    writer.close()


def test_a_failed_write_is_retried_until_it_succeeds_and_later_writes_go_on(tmp_path: Path):
    writer = StatusWriter(retry_delay=0.05)
    blocked = tmp_path / "later"
    writer.write(blocked / "s.json", {"x": 1})
    writer.write(tmp_path / "ok.json", {"x": 2})
    wait_for(lambda: writer.failing(), timeout=30, what="the failed write to be reported")
    assert list(writer.failing()) == [str(blocked / "s.json")]
    assert read_json(tmp_path / "ok.json") == {"x": 2}
    os.mkdir(blocked)  # the cause goes away: the retry writes it
    wait_for(lambda: not writer.failing(), timeout=30, what="the retry to succeed")
    assert read_json(blocked / "s.json") == {"x": 1}, "no longer failing means written"
    assert writer.close() == {}


def test_close_returns_what_could_never_be_written(tmp_path: Path):
    writer = StatusWriter(retry_delay=0.05)
    writer.write(tmp_path / "missing-dir" / "s.json", {"x": 1})
    writer.write(tmp_path / "missing-dir" / "s.json", {"x": 3})  # a newer record replaces the failed one
    left = writer.close(timeout=0.3)
    assert list(left) == [str(tmp_path / "missing-dir" / "s.json")]
    assert "FileNotFoundError" in left[str(tmp_path / "missing-dir" / "s.json")]


def test_a_record_with_sync_first_fsyncs_that_file_before_its_own(tmp_path: Path, monkeypatch):
    """The end of a local run is recorded only once its result.json (which the run left unsynced)
    is on disk: the writer fsyncs it before the status.json temp file of the record."""
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    result = tmp_path / "result.json"
    result.write_text('{"status": "completed"}\n')
    writer = StatusWriter()
    writer.write(tmp_path / "status.json", {"state": "completed"}, sync_first=result)
    writer.write(tmp_path / "other.json", {"state": "running"})  # no sync_first: nothing else synced
    assert writer.close() == {}
    assert synced[0] == str(result)
    assert any(".status.json." in p for p in synced[1:]), synced
    assert synced.count(str(result)) == 1
    assert read_json(tmp_path / "status.json") == {"state": "completed"}


def test_sync_first_of_a_missing_file_does_not_stop_the_record(tmp_path: Path):
    writer = StatusWriter()
    writer.write(tmp_path / "status.json", {"state": "failed"}, sync_first=tmp_path / "result.json")
    assert writer.close() == {}
    assert read_json(tmp_path / "status.json") == {"state": "failed"}
