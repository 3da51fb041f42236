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

    from orchestra.tui.keys import load_keymap

    keymap = load_keymap() if keymap is None else keymap
    if not sys.stdout.isatty():
        from orchestra.errors import UserError

        raise UserError("orchestra attach needs a terminal; `orchestra status DIR` prints the runs")
    # A lost terminal only detaches: exit at once, even from inside a write to the dead terminal.
    signal.signal(signal.SIGHUP, lambda *_: os._exit(129))
    return anyio.run(_attach, sweep, keymap)


async def _attach(sweep: Any, keymap: dict[str, str]) -> int:
    import anyio

    from orchestra.tui.app import Dashboard

    async with anyio.create_task_group() as tg:
        source = Attached(sweep, tg)
        await source.start()
        app = Dashboard(
            source, name=sweep.path.name, workers=source.workers, attached=source.live, keymap=keymap
        )
        source.on_live = lambda: setattr(app, "attached", True)
        result = await app.run_async()
        tg.cancel_scope.cancel()
    remote = source.remote
    if result == "detach":
        print(f"detached: the sweep goes on; `orchestra attach {sweep.path}` to come back")
        return 0
    if remote is None:
        return 0
    if remote.summary_line:
        print(remote.summary_line)
    elif remote.lost:
        print(f"orchestra: {remote.lost}", file=sys.stderr)
    return remote.exit_code if remote.exit_code is not None else 0


class Attached:
    """The attached dashboard's source: the sweep's live service, or its files until a retry starts one.

    On a sweep no service runs, retrying runs starts a service for them (``orchestra up DIR --retry
    RUN``, with the options the sweep was last started with) and the dashboard goes on with it.
    """

    def __init__(self, sweep: Any, tg: Any) -> None:
        from orchestra.service.client import RemoteSweep
        from orchestra.service.files import FileSweep

        self.sweep = sweep
        self.tg = tg
        self.remote: RemoteSweep | None = None
        self.files: FileSweep | None = None
        self.on_live: Any = None
        self._base = 0

    @property
    def live(self) -> bool:
        return self.remote is not None

    @property
    def workers(self) -> int:
        if self.remote is not None:
            return int(self.remote.info.get("workers") or 1)
        return 1

    async def start(self) -> None:
        """Follow the live service if one answers; otherwise reap what a dead one left and read the files."""
        from orchestra.service.files import FileSweep
        from orchestra.service.protocol import socket_path

        if os.path.exists(socket_path(self.sweep.path)) and await self._follow():
            return
        await _reap_dead_orchestrator(self.sweep)
        self.files = FileSweep(self.sweep)
        self.tg.start_soon(self._refresh_files)

    async def _follow(self) -> bool:
        from orchestra.service.client import RemoteSweep

        remote = RemoteSweep(self.sweep)
        self.tg.start_soon(remote.follow)
        await remote.ready.wait()
        if remote.lost and not remote.info:
            return False
        self._base += (self.files.version if self.files is not None else 0) + 1
        self.remote, self.files = remote, None
        if self.on_live is not None:
            self.on_live()
        return True

    async def _refresh_files(self) -> None:
        import anyio

        while self.files is not None:
            self.files.refresh()
            await anyio.sleep(1.0)

    @property
    def _current(self) -> Any:
        return self.remote if self.remote is not None else self.files

    @property
    def version(self) -> int:
        return self._base + int(self._current.version)

    @property
    def done(self) -> bool:
        """Its service ended; a sweep shown from its files is not done: a retry starts a service."""
        return self.remote is not None and self.remote.done

    def snapshot(self) -> Any:
        return self._current.snapshot()

    def gpu_views(self) -> Any:
        return self._current.gpu_views()

    async def send(self, command: Any) -> Any:
        import anyio

        from orchestra.errors import UserError
        from orchestra.scheduler.commands import Action, Op, Reply
        from orchestra.service.daemon import recorded_up_argv, spawn_service

        if self.remote is not None:
            return await self.remote.send(command)
        if command.op is not Op.RETRY:
            raise UserError("no service runs this sweep; retry a run to start one")
        argv = recorded_up_argv(self.sweep, list(command.runs))
        await anyio.to_thread.run_sync(spawn_service, argv, self.sweep)
        if not await self._follow():
            raise UserError(f"the service started for {self.sweep.path} did not answer")
        return [Reply(Op.RETRY, Action.REQUEUED, run_id, "queued") for run_id in command.runs]


async def _reap_dead_orchestrator(sweep: Any) -> None:
    """After an orchestrator died: kill whatever is left of its runs, record the runs it left
    'running' as lost, and remove the temp files of its interrupted writes."""
    from orchestra.errors import RunDirError
    from orchestra.plan.prepare import remove_stale_temps_of_every_run, settle_status
    from orchestra.rundir import State, SweepLock, outlives_orchestrator, scan
    from orchestra.scheduler.backends.local import kill_leftovers

    lock = SweepLock(sweep)
    try:
        if not lock.acquire():
            return  # an orchestrator is alive: the runs are its own
    except RunDirError:
        return  # a sweep we may only read (someone else's): nothing of it is ours to end
    try:
        recorded = [r for r in scan(sweep) if r.status is not None]
        if any(
            r.status is not None and not r.status.state.finished and outlives_orchestrator(r.status)
            for r in recorded
        ):
            return  # Slurm jobs go on without their orchestrator (here too): the next `up` re-attaches
        running = [r for r in recorded if r.status is not None and r.status.state is State.RUNNING]
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
        remove_stale_temps_of_every_run(sweep)
        if not survivors:
            lock.recovered()
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
