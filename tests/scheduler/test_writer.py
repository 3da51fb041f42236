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
    synced = _record_fsyncs(monkeypatch)
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


def _record_fsyncs(monkeypatch) -> list[str]:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    return synced


def test_a_lazy_record_is_written_at_once_and_fsynced_later_with_its_directory(tmp_path: Path, monkeypatch):
    """A local run's 'running' record: replaced atomically now, made durable within lazy_sync."""
    synced = _record_fsyncs(monkeypatch)
    writer = StatusWriter(lazy_sync=0.3)
    writer.write(tmp_path / "status.json", {"state": "running"}, lazy=True)
    wait_for(lambda: (tmp_path / "status.json").exists(), timeout=30, what="the lazy record to be written")
    assert read_json(tmp_path / "status.json") == {"state": "running"}
    assert synced == [], "fsynced at once"
    wait_for(lambda: len(synced) >= 2, timeout=30, what="the lazy record's fsync")
    assert synced == [str(tmp_path / "status.json"), str(tmp_path)], "the file, then its directory"
    assert writer.close() == {}
    assert len(synced) == 2, "synced again at close"


def test_a_durable_record_replaces_a_lazy_one_s_fsync(tmp_path: Path, monkeypatch):
    """A run that ends within the lazy second costs its end's fsyncs alone."""
    synced = _record_fsyncs(monkeypatch)
    writer = StatusWriter(lazy_sync=3600)
    writer.write(tmp_path / "status.json", {"state": "running"}, lazy=True)
    assert writer.flush(timeout=30) is True  # flush makes lazy records durable too ...
    assert synced == [str(tmp_path / "status.json"), str(tmp_path)]
    synced.clear()
    writer.write(tmp_path / "status.json", {"state": "running", "n": 2}, lazy=True)
    wait_for(lambda: read_json(tmp_path / "status.json").get("n") == 2, timeout=30, what="the record")
    writer.write(tmp_path / "status.json", {"state": "completed"})
    assert writer.close() == {}
    assert read_json(tmp_path / "status.json") == {"state": "completed"}
    temps = [p for p in synced if ".status.json." in p]
    assert len(temps) == 1 and synced == [temps[0], str(tmp_path)], synced  # ... the durable one's alone


def test_close_fsyncs_the_lazy_records_it_did_not_reach(tmp_path: Path, monkeypatch):
    synced = _record_fsyncs(monkeypatch)
    writer = StatusWriter(lazy_sync=3600)
    for k in range(3):
        (tmp_path / f"r{k}").mkdir()
        writer.write(tmp_path / f"r{k}" / "status.json", {"state": "running"}, lazy=True)
    assert writer.close() == {}
    for k in range(3):
        assert str(tmp_path / f"r{k}" / "status.json") in synced
        assert str(tmp_path / f"r{k}") in synced
