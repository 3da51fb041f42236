"""``orchestra logs DIR RUN [-f]``: print a run's output.log, or follow it."""

from __future__ import annotations

import argparse
import os
import sys
import time


def add_parser(p: argparse.ArgumentParser) -> None:
    from orchestra.cli.completion import complete_with, directories, run_ids

    complete_with(
        p.add_argument("sweep_dir", metavar="DIR", help="the sweep directory (ROOT/NAME)"), directories
    )
    complete_with(
        p.add_argument("run", metavar="RUN", help="run number, VARIANT/SEED, or a unique prefix"), run_ids
    )
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new output until the run ends")
    p.add_argument(
        "-n",
        "--lines",
        type=int,
        default=None,
        metavar="N",
        help="only the last N lines (with -f, -n 0 follows only what is new)",
    )


def run(args: argparse.Namespace) -> int:
    from orchestra.errors import UserError
    from orchestra.rundir import SweepDir, live_holder, planned_runs, resolve_run

    if args.lines is not None and args.lines < (0 if args.follow else 1):
        raise UserError(
            f"-n {args.lines}: give a number of lines >= 1 (leave -n out for the whole log"
            + (")" if args.follow else ", or follow only what is new with -f -n 0)")
        )
    sweep = SweepDir(args.sweep_dir)
    plan = sweep.read_plan()
    ref = resolve_run(planned_runs(sweep, plan), args.run)
    path = ref.dir.output_log
    if not path.exists() and not args.follow:
        raise UserError(f"run {ref.id} has no output yet (it has not started); use -f to wait for it")
    out = sys.stdout.buffer
    offset = 0
    if path.exists():
        offset = _print_start(path, out, args.lines)
    if not args.follow:
        return 0
    mark = _mark(path, offset)
    while True:
        offset, mark = _copy_new(path, out, offset, mark)
        status = ref.dir.read_status()
        finished = status is not None and status.state.finished
        if finished or (
            status is not None and live_holder(sweep) is None and status.state.value == "running"
        ):
            _copy_new(path, out, offset, mark)
            return 0
        time.sleep(0.2)


def _print_start(path: os.PathLike[str], out, lines: int | None) -> int:  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if lines is None:
            while chunk := f.read(1 << 20):
                out.write(chunk)
            out.flush()
            return f.tell()
        if lines == 0:
            return size  # -f -n 0: only what comes next
        start = max(0, size - lines * 512 - 65536)
        f.seek(start)
        data = f.read(size - start)
    tail = data.split(b"\n")
    if data.endswith(b"\n"):
        tail = tail[:-1]
    out.write(b"\n".join(tail[-lines:]) + (b"\n" if tail else b""))
    out.flush()
    return size


def _copy_new(path: os.PathLike[str], out, offset: int, mark: bytes) -> tuple[int, bytes]:  # type: ignore[no-untyped-def]
    """Print what was appended since ``offset``; ``mark`` is the bytes just before it, as printed."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < offset or (mark and os.pread(f.fileno(), len(mark), offset - len(mark)) != mark):
                # the orchestrator cut the middle out of the log (Sweep max_log): find where we were
                window = min(size, 16 << 20)
                found = os.pread(f.fileno(), window, size - window).rfind(mark) if mark else -1
                if found < 0:
                    print("[orchestra logs] output.log was cut; going on from its end", file=sys.stderr)
                    return size, _mark(path, size)
                offset = size - window + found + len(mark)
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return offset, mark
    if data:
        out.write(data)
        out.flush()
    return offset + len(data), (mark + data)[-64:]


def _mark(path: os.PathLike[str], offset: int) -> bytes:
    try:
        with open(path, "rb") as f:
            return os.pread(f.fileno(), min(64, offset), offset - min(64, offset))
    except FileNotFoundError:
        return b""
