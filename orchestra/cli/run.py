"""``orchestra run SWEEP.py RUN [--pdb]``: one run of a sweep in the foreground, on this terminal.

The run gets what the scheduler would give it: the same ``python -m orchestra.runtime <run-dir>``,
the same ``config.json``, seed, environment (:func:`orchestra.scheduler.runenv.run_env`) and run
directory, and its attempt is recorded like any other (``status.json`` and its history,
``result.json``, ``metrics.jsonl``). What differs is that stdin and the terminal are attached:
``breakpoint()`` stops in pdb, ``--pdb`` opens the post-mortem debugger on an exception, Ctrl-C
stops the run (recorded as ``interrupted``: the next ``orchestra up`` resumes it). There is no
timeout and no retry: the run is yours while it lasts.

Output goes to the terminal and into ``output.log``. On a terminal the run gets a pseudo-terminal
of its own (so progress bars, colours and pdb's line editing work as they would in a shell), and
orchestra copies everything it shows into ``output.log``, the echo of what you type at a pdb prompt
included: the log reads like the terminal session. Without a terminal (a pipe, a job script) the
run's stdout and stderr are one pipe that orchestra copies to its own stdout and to ``output.log``.

``RUN`` is what ``orchestra logs`` takes (a run number, ``VARIANT/SEED`` or a unique prefix).
``--config KEY=VALUE ...`` instead names a variant by its values, as overrides do; one the plan
does not have yet runs in a directory of its own, with a run number after the plan's, and is
listed under ``adhoc`` in ``sweep.json``: ``status``, ``logs`` and ``results`` show it (labelled
``adhoc``), ``orchestra up`` keeps to the plan and leaves it alone. While a live orchestrator holds
the sweep's lock, ``orchestra run`` refuses; while it runs, it holds the lock itself.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestra.errors import PlanError

if TYPE_CHECKING:
    from orchestra.plan.loader import LoadedSweep
    from orchestra.plan.prepare import PlannedRun, Reconciled
    from orchestra.rundir import Exit, RunDir, State


def add_parser(p: argparse.ArgumentParser) -> None:
    from orchestra.cli.completion import complete_with, run_ids, sweep_files

    complete_with(
        p.add_argument("sweep_file", metavar="SWEEP.py", help="the sweep file (FILE.py or FILE.py:NAME)"),
        sweep_files,
    )
    complete_with(
        p.add_argument("run", metavar="RUN", nargs="?", help="run number, VARIANT/SEED, or a unique prefix"),
        run_ids,
    )
    p.add_argument(
        "--config",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="the variant with these values instead of RUN (one the plan does not have is fine)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="with --config: the seed (default: the sweep's first)"
    )
    p.add_argument("--pdb", action="store_true", help="open the post-mortem debugger when the run raises")
    p.add_argument("--name", help="sweep name (default: Sweep(name=) or the file's stem)")
    p.add_argument(
        "--root",
        default=os.environ.get("ORCHESTRA_ROOT", "sweeps"),
        help="directory that holds sweeps (default: ./sweeps or $ORCHESTRA_ROOT)",
    )


def run(args: argparse.Namespace) -> int:
    from orchestra.plan.loader import load_sweep_file
    from orchestra.plan.overrides import parse_all
    from orchestra.plan.prepare import apply, reconcile, sweep_name
    from orchestra.rundir import SweepDir, SweepLock
    from orchestra.runtime.payload import dumps_entry

    if (args.run is None) == (not args.config):
        raise PlanError(
            "give the run (RUN, as `orchestra logs` takes it) or --config KEY=VALUE ..., one of them"
        )
    if args.seed is not None and not args.config:
        raise PlanError("--seed goes with --config; RUN names its seed already")
    config = parse_all(args.config, "--config")
    loaded = load_sweep_file(args.sweep_file)
    payload = dumps_entry(loaded.sweep.entry, by_value=[loaded.module])
    root = Path(args.root)
    sweep_dir = SweepDir(root / sweep_name(loaded, args.name))
    if sweep_dir.exists():
        holder = SweepLock(sweep_dir).holder()
        if holder is not None:
            raise PlanError(_busy(sweep_dir, holder))
    rec = reconcile(loaded, root, name=args.name, payload=payload)  # reads only: mistakes stop here
    planned = _find(rec, loaded, args.run, config, args.seed)
    sweep_dir.path.mkdir(parents=True, exist_ok=True)
    lock = SweepLock(sweep_dir)
    if not lock.acquire():
        raise PlanError(_busy(sweep_dir, lock.holder()))
    try:
        rec = reconcile(loaded, root, name=args.name, payload=payload)  # under the lock
        planned = _find(rec, loaded, args.run, config, args.seed)
        for note in [*apply(rec, payload), *rec.notes]:
            print(f"orchestra: {note}", file=sys.stderr)
        return _foreground(rec, loaded, planned, post_mortem=args.pdb)
    finally:
        lock.release()


def _busy(sweep_dir: Any, holder: int | None) -> str:
    return (
        f"sweep {sweep_dir.path.name!r} is being run by a live orchestrator (pid {holder}); "
        "`orchestra run` needs the sweep to itself: wait for it to end, or stop it first"
    )


def _find(
    rec: Reconciled, loaded: LoadedSweep, text: str | None, config: Any, seed: int | None
) -> PlannedRun:
    """The run ``RUN`` names among the planned and ad-hoc runs, or the one ``--config`` describes."""
    from orchestra.plan.prepare import PlannedRun
    from orchestra.rundir import planned_runs, resolve_run
    from orchestra.space.variant import Variant
    from orchestra.sweep import RunSpec

    adhoc = [(Variant.from_json(a["variant"]), int(a["seed"])) for a in rec.record.get("adhoc", [])]
    by_id = {r.id: r for r in rec.runs}
    numbers = {
        (a["variant"]["name"], int(a["seed"])): int(a.get("run", -1)) for a in rec.record.get("adhoc", [])
    }
    for v, s in adhoc:
        by_id.setdefault(f"{v.name}/{s}", _planned(rec, RunSpec(numbers[(v.name, s)], v, s)))
    if text is not None:
        record = {**rec.record, "runs": rec.plan.runs_json()}
        return by_id[resolve_run(planned_runs(rec.sweep_dir, record), text).id]
    variant, seed = _described(rec, loaded, config, seed)
    for r in rec.runs:
        if r.spec.seed == seed and r.spec.variant.masked() == variant.masked():
            return r
    for v, s in adhoc:
        if s == seed and v.masked() == variant.masked():
            return by_id[f"{v.name}/{s}"]
    taken = {v.name for v in rec.plan.variants} | {d["name"] for d in rec.record.get("retired", [])}
    taken |= {v.name for v, _ in adhoc if v.key != variant.key}
    name = variant.name if variant.name not in taken else f"{variant.name}~{variant.key[:8]}"
    variant = Variant(-1, variant.params, name, variant.key, variant.sampled)
    from orchestra.rundir.plan import run_numbers

    number = max(run_numbers(rec.record).values(), default=-1) + 1
    rec.record.setdefault("adhoc", []).append({"variant": variant.to_json(), "seed": seed, "run": number})
    return PlannedRun(RunSpec(number, variant, seed), rec.sweep_dir.run(name, seed), None, True)


def _planned(rec: Reconciled, spec: Any) -> PlannedRun:
    from orchestra.plan.prepare import PlannedRun

    run_dir = rec.sweep_dir.run(spec.variant.name, spec.seed)
    return PlannedRun(spec, run_dir, run_dir.read_status(), True)


def _described(rec: Reconciled, loaded: LoadedSweep, config: Any, seed: int | None) -> tuple[Any, int]:
    """The one variant (and seed) the plan's space narrowed by ``--config`` has."""
    from orchestra.plan.overrides import apply, parse_all
    from orchestra.space.variant import varying_keys

    sweep = loaded.sweep
    space, seeds = apply(sweep.space, sweep.seeds, parse_all(rec.record.get("overrides") or []))
    space, seeds = apply(space, seeds, config, what="--config")
    variants = sweep.plan(rec.name, space=space, seeds=seeds).variants
    if len(variants) != 1:
        keys = varying_keys(v.params for v in variants)
        raise PlanError(
            f"--config {' '.join(o.text for o in config)} leaves {len(variants)} variants; "
            f"give a value for {', '.join(keys) or 'the keys that vary'} too"
        )
    return variants[0], seeds[0] if seed is None else seed


def _foreground(rec: Reconciled, loaded: LoadedSweep, planned: PlannedRun, *, post_mortem: bool) -> int:
    from orchestra.plan.prepare import run_config
    from orchestra.rundir import State, Status, write_json
    from orchestra.scheduler.resources import CpuSlots, default_workers
    from orchestra.scheduler.runenv import run_env

    sweep = loaded.sweep
    run_dir = planned.dir
    run_dir.path.mkdir(parents=True, exist_ok=True)
    write_json(run_dir.config, run_config(rec.name, planned.spec, sweep.run_options()), fsync=False)
    before = run_dir.read_status() or Status(State.QUEUED, queued_at=time.time())
    attempt = before.attempt + 1
    device_env, gpus = _place_gpus(sweep, planned.id)
    env = run_env(
        base=os.environ,
        sweep_env=sweep.env,
        run_dir=run_dir.path,
        attempt=attempt,
        threads=CpuSlots(default_workers()).threads_per_run(sweep.resources.cpus),
        sweep_file=loaded.path,
        device_env=device_env,
    )
    if post_mortem:
        env["ORCHESTRA_POST_MORTEM"] = "1"
    argv = [sys.executable, "-m", "orchestra.runtime", str(run_dir.path)]
    print(
        f"orchestra: run {planned.id} attempt {attempt} in the foreground; its output also goes to "
        f"{run_dir.output_log}",
        file=sys.stderr,
        flush=True,
    )
    started = time.time()
    status = before

    def running(pid: int) -> None:
        nonlocal status
        status = before.moved(
            State.RUNNING,
            started,
            attempt=attempt,
            exit=None,
            pid=pid,
            host=socket.gethostname(),
            gpus=gpus,
            started_at=started,
            ended_at=None,
        )
        run_dir.write_status(status)

    log_fd = _open_log(run_dir)
    try:
        tty = sys.stdin.isatty() and sys.stdout.isatty()
        rc = (_on_pty if tty else _on_pipe)(argv, env, Path.cwd(), log_fd, running)
    finally:
        os.close(log_fd)
    state, exit_ = classify(run_dir, attempt, rc)
    ended = time.time()
    run_dir.write_status(status.moved(state, ended, exit=exit_, ended_at=ended, pid=None))
    print(
        f"orchestra: run {planned.id} attempt {attempt}: {state.value} ({exit_.describe()})", file=sys.stderr
    )
    return {State.COMPLETED: 0, State.INTERRUPTED: 130}.get(state, 1)


def _open_log(run_dir: RunDir) -> int:
    return os.open(run_dir.output_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def _place_gpus(sweep: Any, run_id: str) -> tuple[dict[str, str] | None, tuple[Any, ...]]:
    """The GPU environment the scheduler would give the run now (None: a CPU run)."""
    if not (sweep.resources.gpus or sweep.resources.gpu_mem):
        return None, ()
    from orchestra.scheduler.gpu import GpuLedger
    from orchestra.scheduler.probe import make_probe

    ledger = GpuLedger(make_probe("auto"), headroom=512 << 20)
    problem = ledger.feasible(sweep.resources)
    grant = None if problem else ledger.place(run_id, sweep.resources)
    if grant is None:
        raise PlanError(
            f"run {run_id} cannot get its GPUs now: {problem or ledger.waiting_reason(sweep.resources)}"
        )
    return grant.env(), tuple(grant.to_json())


def classify(run_dir: RunDir, attempt: int, rc: int) -> tuple[State, Exit]:
    """How a foreground attempt ended, as the scheduler decides it (orchestra.scheduler.outcome), with
    one difference: Ctrl-C (or a SIGINT, SIGTERM or SIGHUP to it) means the user stopped it there,
    which interrupts the run rather than failing it."""
    from orchestra.rundir import Reason, read_json_or_none
    from orchestra.scheduler.backends import Ended
    from orchestra.scheduler.outcome import classify as outcome

    result = read_json_or_none(run_dir.result)
    mine = result if isinstance(result, dict) and result.get("attempt") == attempt else {}
    error = mine.get("error") if isinstance(mine.get("error"), dict) else None
    stopped = (
        (rc < 0 and -rc in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
        or mine.get("status") == "terminated"
        or bool(error and error.get("type") == "KeyboardInterrupt")
    )
    return outcome(
        stop=Reason.INTERRUPTED if stopped else None, ended=Ended(rc), result=result, attempt=attempt
    )


# ---------------------------------------------------------------------------------------------
# the child, on a pseudo-terminal or a pipe, with its output copied to output.log


def _on_pty(argv: list[str], env: dict[str, str], cwd: Path, log_fd: int, started: Any) -> int:
    import fcntl
    import pty
    import select
    import termios

    pid, master = pty.fork()
    if pid == 0:  # the child: a session of its own whose controlling terminal is the pty
        try:
            os.chdir(cwd)
            attrs = termios.tcgetattr(1)
            attrs[1] &= ~termios.ONLCR  # "\n" stays "\n" in output.log; our terminal adds the "\r"
            termios.tcsetattr(1, termios.TCSANOW, attrs)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    started(pid)
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()

    def resize(*_: Any) -> None:
        try:
            fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(stdout, termios.TIOCGWINSZ, b"\0" * 8))
        except OSError:
            pass

    resize()
    previous = signal.signal(signal.SIGWINCH, resize)
    saved = termios.tcgetattr(stdin)
    _keys_to_the_run(stdin, saved)
    try:
        inputs = [master, stdin]
        while True:
            try:
                ready, _, _ = select.select(inputs, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # EIO: the run and everything holding its terminal are gone
                    break
                if not data:
                    break
                _write_all(stdout, data)
                _write_all(log_fd, data)
            if stdin in ready:
                data = os.read(stdin, 1 << 12)
                if data:
                    _write_all(master, data)
                else:
                    inputs.remove(stdin)
    finally:
        termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)
        os.close(master)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _keys_to_the_run(fd: int, saved: list[Any]) -> None:
    """Every key goes to the run's terminal (Ctrl-C included); output processing stays ours."""
    import termios

    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = saved
    iflag &= ~(termios.ICRNL | termios.INLCR | termios.IXON | termios.ISTRIP | termios.BRKINT)
    lflag &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cc = list(cc)
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    termios.tcsetattr(fd, termios.TCSADRAIN, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def _on_pipe(argv: list[str], env: dict[str, str], cwd: Path, log_fd: int, started: Any) -> int:
    import subprocess

    # Ctrl-C reaches the run (our process group); orchestra itself waits for the run to end.
    previous = signal.signal(signal.SIGINT, lambda *_: None)
    child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    forward = signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
    try:
        started(child.pid)
        assert child.stdout is not None
        out = sys.stdout.fileno()
        while data := os.read(child.stdout.fileno(), 1 << 16):
            _write_all(out, data)
            _write_all(log_fd, data)
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, forward)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BrokenPipeError:
            return  # the reader of our stdout went away; the log still gets everything
