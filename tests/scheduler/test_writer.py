"""The status writer: ordered, coalesced, flushed, and never the loser of a record."""

from __future__ import annotations

from pathlib import Path

from orchestra.rundir import read_json
from orchestra.scheduler.writer import StatusWriter


def test_every_file_ends_with_its_newest_record(tmp_path: Path):
    writer = StatusWriter()
    for i in range(500):
        writer.write(tmp_path / f"s{i % 7}.json", {"i": i})
    assert writer.flush(timeout=30)
    for k in range(7):
        assert read_json(tmp_path / f"s{k}.json") == {"i": max(i for i in range(500) if i % 7 == k)}
    writer.close()
    assert writer.errors == []


def test_flush_waits_for_a_write_in_progress(tmp_path: Path):
    writer = StatusWriter()
    writer.write(tmp_path / "a.json", {"big": "x" * 5_000_000})
    assert writer.flush(timeout=30)
    assert read_json(tmp_path / "a.json")["big"] == "x" * 5_000_000
    writer.close()


def test_a_failed_write_is_reported_and_later_writes_go_on(tmp_path: Path):
    writer = StatusWriter()
    writer.write(tmp_path / "missing-dir" / "s.json", {"x": 1})
    writer.write(tmp_path / "ok.json", {"x": 2})
    writer.close()
    assert len(writer.errors) == 1 and "missing-dir" in writer.errors[0]
    assert read_json(tmp_path / "ok.json") == {"x": 2}
