"""``orchestra attach [DIR]``: the dashboard of a sweep, live over its service's socket, or from its files.

With no DIR: the only live sweep under ``--root`` (several: a list to choose from). On a sweep
whose service is not running (finished, crashed, killed) the same dashboard opens from the files,
after every process a dead orchestrator left behind was killed. Quitting detaches: the sweep goes
on. Closing the terminal does the same.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any


def add_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sweep_dir", metavar="DIR", nargs="?", help="the sweep's directory (default: the live one)"
    )
    p.add_argument(
        "--root",
        default=os.environ.get("ORCHESTRA_ROOT", "sweeps"),
        help="where to look for live sweeps when DIR is not given (default: ./sweeps or $ORCHESTRA_ROOT)",
    )


def run(args: argparse.Namespace) -> int:
    from orchestra.rundir import SweepDir

    sweep = SweepDir(args.sweep_dir) if args.sweep_dir else _choose(Path(args.root))
    sweep.read_plan()  # not a sweep directory: one line, exit 2
    return attach_dashboard(sweep)


def attach_dashboard(sweep: Any, keymap: dict[str, str] | None = None) -> int:
    """Open the dashboard on ``sweep`` (a SweepDir) until the user quits or detaches; the exit status."""
    import anyio

    from orchestra.service.protocol import socket_path
    from orchestra.tui.keys import load_keymap

    keymap = load_keymap() if keymap is None else keymap
    if not sys.stdout.isatty():
        from orchestra.errors import UserError

        raise UserError("orchestra attach needs a terminal; `orchestra status DIR` prints the runs")
    # A lost terminal only detaches: exit at once, even from inside a write to the dead terminal.
    signal.signal(signal.SIGHUP, lambda *_: os._exit(129))
    if os.path.exists(socket_path(sweep.path)):
        code = anyio.run(_attach_live, sweep, keymap)
        if code is not None:
            return code
    return anyio.run(_attach_files, sweep, keymap)


async def _attach_live(sweep: Any, keymap: dict[str, str]) -> int | None:
    """None when no service answers (it just ended): the caller opens the files instead."""
    import anyio

    from orchestra.service.client import RemoteSweep
    from orchestra.tui.app import Dashboard

    remote = RemoteSweep(sweep)
    async with anyio.create_task_group() as tg:
        tg.start_soon(remote.follow)
        await remote.ready.wait()
        if remote.lost and not remote.version > 1:
            tg.cancel_scope.cancel()
            return None
        workers = remote.info.get("workers") or 1
        app = Dashboard(
            remote,
            name=str(remote.info.get("sweep", sweep.path.name)),
            workers=workers,
            attached=True,
            keymap=keymap,
        )
        result = await app.run_async()
        tg.cancel_scope.cancel()
    if result == "detach":
        print(f"detached: the sweep goes on; `orchestra attach {sweep.path}` to come back")
        return 0
    if remote.summary_line:
        print(remote.summary_line)
    elif remote.lost:
        print(f"orchestra: {remote.lost}", file=sys.stderr)
    return remote.exit_code if remote.exit_code is not None else 0


async def _attach_files(sweep: Any, keymap: dict[str, str]) -> int:
    import anyio

    from orchestra.service.files import FileSweep
    from orchestra.tui.app import Dashboard

    await _reap_dead_orchestrator(sweep)
    files = FileSweep(sweep)
    app = Dashboard(files, name=sweep.path.name, workers=1, keymap=keymap)

    async def refresh() -> None:
        while True:
            await anyio.sleep(1.0)
            files.refresh()

    async with anyio.create_task_group() as tg:
        tg.start_soon(refresh)
        await app.run_async()
        tg.cancel_scope.cancel()
    return 0


async def _reap_dead_orchestrator(sweep: Any) -> None:
    """After an orchestrator died: kill whatever is left of its runs, record the runs it left
    'running' as lost, and remove the temp files of its interrupted writes."""
    from orchestra.errors import RunDirError
    from orchestra.plan.prepare import settle_status
    from orchestra.rundir import State, SweepLock, remove_orchestrator_temp_files, scan
    from orchestra.scheduler.backends.local import kill_leftovers

    lock = SweepLock(sweep)
    try:
        if not lock.acquire():
            return  # an orchestrator is alive: the runs are its own
    except RunDirError:
        return  # a sweep we may only read (someone else's): nothing of it is ours to end
    try:
        running = [r for r in scan(sweep) if r.status is not None and r.status.state is State.RUNNING]
        if not running and not lock.unclean:
            return
        survivors = await kill_leftovers(sweep.runs, [r.status for r in running if r.status is not None])
        if survivors:
            print(
                f"orchestra: warning: cannot end {len(survivors)} process(es) of this sweep's runs "
                f"(pids {', '.join(map(str, survivors[:5]))})",
                file=sys.stderr,
            )
        for r in running:
            settle_status(r.path)
        remove_orchestrator_temp_files(sweep)
    finally:
        lock.release()


def _choose(root: Path) -> Any:
    from orchestra.errors import UserError
    from orchestra.rundir import SweepDir, live_holder

    sweeps = sorted(p.parent for p in root.glob("*/sweep.json"))
    live = [SweepDir(p) for p in sweeps if live_holder(SweepDir(p)) is not None]
    if len(live) == 1:
        return live[0]
    if not live:
        raise UserError(f"no live sweep under {root}; give the sweep's directory: orchestra attach DIR")
    listing = "\n".join(f"  {i + 1}. {s.path}" for i, s in enumerate(live))
    if not sys.stdin.isatty():
        raise UserError(f"{len(live)} live sweeps under {root}; give one: orchestra attach DIR\n{listing}")
    print(f"{len(live)} live sweeps under {root}:\n{listing}")
    answer = input("attach to which? ").strip()
    if not answer.isdigit() or not 1 <= int(answer) <= len(live):
        raise UserError(f"{answer!r}: answer with a number from 1 to {len(live)}")
    return live[int(answer) - 1]
