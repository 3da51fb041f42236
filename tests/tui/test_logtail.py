"""Following a run's output.log: by offset, bounded, with progress bars and escapes made screen-safe."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from orchestra.tui.logtail import LogTail, clean_line, collapse_cr, plain_text


def test_a_progress_bar_redrawn_with_cr_shows_its_last_state():
    assert collapse_cr("epoch 1:  10%\repoch 1:  50%\repoch 1: 100%") == "epoch 1: 100%"
    assert collapse_cr("done\r") == "done", "a trailing \\r (CRLF endings) leaves the line as it was"
    assert collapse_cr("plain") == "plain"


def test_colours_are_kept_and_every_other_escape_and_control_code_is_dropped():
    line = "\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\x1b[2K \x1b[1Aup\x07 bell\x08 end\x1bc\x1b7"
    cleaned = clean_line(line)
    assert cleaned == "\x1b[1;31mred\x1b[0m ok up bell end"
    assert plain_text(cleaned) == "red ok up bell end"
    assert clean_line("a\x00b\tc") == "ab      c", "tabs expand to the next multiple of 8"


def write(path: Path, data: bytes) -> None:
    with open(path, "ab") as f:
        f.write(data)


def test_reads_only_what_was_appended_and_shows_the_unterminated_line(tmp_path: Path):
    log = tmp_path / "output.log"
    tail = LogTail(log)
    assert tail.poll() == 0 and tail.count == 0, "no file yet"
    write(log, b"one\ntwo\nthr")
    assert tail.poll() == 2
    assert [tail.line(n) for n in range(tail.first, tail.first + tail.count)] == ["one", "two", "thr"]
    offset = tail.offset
    assert tail.poll() == 0 and tail.offset == offset
    write(log, b"ee\r 50%\r100%")
    assert tail.poll() == -1, "only the partial line changed"
    assert tail.partial == "100%"
    write(log, b"\nfour\n")
    assert tail.poll() == 2
    assert [tail.line(n) for n in range(tail.count)] == ["one", "two", "100%", "four"]


def test_keeps_only_the_newest_lines_and_numbers_them_from_the_start(tmp_path: Path):
    log = tmp_path / "output.log"
    tail = LogTail(log, max_lines=100)
    write(log, b"".join(b"line %d\n" % i for i in range(250)))
    tail.poll()
    assert tail.count == 100 and tail.total == 250 and tail.first == 150
    assert tail.line(150) == "line 150" and tail.line(249) == "line 249"


def test_a_big_existing_log_is_read_from_its_end_and_a_flood_is_skipped(tmp_path: Path):
    log = tmp_path / "output.log"
    write(log, b"".join(b"old line %06d\n" % i for i in range(100_000)))  # 1.7 MB
    tail = LogTail(log, start_bytes=64 << 10, max_read=128 << 10)
    tail.poll()
    assert tail.skipped > 1_500_000
    assert tail.line(tail.first + tail.count - 1) == "old line 099999"
    assert tail.line(tail.first).startswith("old line "), "the cut first line was dropped"
    write(log, b"".join(b"new line %06d\n" % i for i in range(50_000)))
    tail.poll()
    assert tail.line(tail.first + tail.count - 1) == "new line 049999"
    assert tail.offset == log.stat().st_size


def test_an_endless_redraw_without_newline_stays_bounded(tmp_path: Path):
    log = tmp_path / "output.log"
    tail = LogTail(log, partial_limit=4096)
    for i in range(2000):
        write(log, b"\rprogress %d/2000" % i)
        if i % 100 == 0:
            tail.poll()
    tail.poll()
    assert tail.partial == "progress 1999/2000"
    assert len(tail._pending) <= 4096


def test_a_truncated_log_is_read_again_from_the_start(tmp_path: Path):
    log = tmp_path / "output.log"
    write(log, b"a\nb\nc\n")
    tail = LogTail(log)
    tail.poll()
    log.write_bytes(b"x\n")
    tail.poll()
    assert [tail.line(n) for n in range(tail.first, tail.first + tail.count)] == ["x"]


def test_follows_a_real_process_writing_with_its_own_file_descriptor(tmp_path: Path):
    log = tmp_path / "output.log"
    code = "import sys\nfor i in range(5000): print(f'row {i}', end='\\r' if i % 2 else '\\n')\nprint()"
    with open(log, "ab") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True)
    tail = LogTail(log, max_lines=10_000)
    tail.poll()
    # "row 0\n", then "row 1\rrow 2\n" (shown as row 2), ..., and last "row 4999\r\n"
    assert tail.count == 2501
    assert [tail.line(n) for n in (0, 1, 2500)] == ["row 0", "row 2", "row 4999"]


def test_a_log_cut_under_the_tail_is_read_again_from_its_end_with_numbers_going_on(tmp_path: Path):
    from orchestra.scheduler.logcap import cap_log

    log = tmp_path / "output.log"
    tail = LogTail(log, start_bytes=32 << 10)
    write(log, b"".join(b"line %07d\n" % i for i in range(100_000)))  # 1.3 MB
    tail.poll()
    numbers_before = tail.first + tail.count
    assert tail.line(numbers_before - 1) == "line 0099999"
    cut = cap_log(log, 1 << 20)
    assert cut is not None and log.stat().st_size < tail.offset
    write(log, b"after the cut\n")
    assert tail.poll() > 0
    assert tail.restarts == 1
    assert tail.first >= numbers_before, "line numbers go on: a cached line is never shown for a new one"
    shown = [tail.line(n) for n in range(tail.first, tail.first + tail.count)]
    assert shown[-2:] == ["line 0099999", "after the cut"]


def test_a_log_rewritten_past_the_offset_is_noticed(tmp_path: Path):
    log = tmp_path / "output.log"
    tail = LogTail(log)
    write(log, b"one\ntwo\n")
    tail.poll()
    log.write_bytes(b"ONE\nTWO\nthree\nfour\n")  # rewritten, and longer than what was read
    tail.poll()
    assert tail.restarts == 1
    assert [tail.line(n) for n in range(tail.first, tail.first + tail.count)] == [
        "ONE",
        "TWO",
        "three",
        "four",
    ]
    write(log, b"five\n")
    assert tail.poll() == 1 and tail.restarts == 1, "appends alone are read on, not restarted"
