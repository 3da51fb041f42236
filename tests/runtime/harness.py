"""Real sweep directories and real run processes, made the way the orchestrator makes them.

A test writes a sweep file, :func:`prepare_sweep` loads it with the orchestrator's loader, pickles
its entry with ``dumps_entry`` and writes the sweep directory with ``prepare.reconcile/apply`` and
``write_launch``; :func:`write_run_config` writes a run's ``config.json``; :func:`start` starts
``python -m orchestra.runtime <run-dir>`` with stdout/stderr on ``output.log`` and the environment
of docs/run-directory.md.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.plan import prepare
from orchestra.plan.loader import load_sweep_file
from orchestra.rundir import RunDir, SweepDir, read_json, read_json_or_none, read_jsonl, write_json
from orchestra.runtime.payload import dumps_entry
from orchestra.scheduler.runenv import run_env as orchestrator_env

REPO = Path(__file__).resolve().parents[2]

TIMEOUT = 90.0


@dataclass
class PreparedSweep:
    file: Path
    dir: SweepDir
    rec: prepare.Reconciled
    options: dict[str, Any]

    def run_dir(self, index: int = 0) -> RunDir:
        return self.rec.runs[index].dir


def prepare_sweep(tmp_path: Path, source: str, *, name: str = "sweep", launch: bool = True) -> PreparedSweep:
    """Write ``source`` as ``<tmp>/<name>.py`` and prepare its sweep directory under ``<tmp>/sweeps``."""
    file = tmp_path / f"{name}.py"
    file.write_text(textwrap.dedent(source))
    loaded = load_sweep_file(str(file))
    payload = dumps_entry(loaded.sweep.entry, by_value=[loaded.module])
    rec = prepare.reconcile(loaded, tmp_path / "sweeps", payload=payload)
    prepare.apply(rec, payload)  # writes launch/ as `orchestra up` does
    if not launch:
        shutil.rmtree(rec.sweep_dir.launch)
    return PreparedSweep(file, rec.sweep_dir, rec, loaded.sweep.run_options())


def write_run_config(sweep: PreparedSweep, index: int = 0) -> RunDir:
    """Make run ``index``'s directory and write its config.json, as the orchestrator does."""
    planned = sweep.rec.runs[index]
    spec = planned.spec
    planned.dir.path.mkdir(parents=True, exist_ok=True)
    write_json(planned.dir.config, prepare.run_config(sweep.rec.name, spec, sweep.options))
    return planned.dir


def run_env(
    run_dir: RunDir | Path,
    *,
    attempt: int = 1,
    parent: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment the orchestrator gives a run (orchestra.scheduler.runenv), for one attempt."""
    path = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
    sweep_file = path.parent.parent.parent.parent.parent / "sweep.py"  # <tmp>/sweeps/<sweep>/runs/<v>/<s>
    env = orchestrator_env(
        base=os.environ, sweep_env={}, run_dir=path, attempt=attempt, threads=1, sweep_file=sweep_file
    )
    if parent is not None:
        env["ORCHESTRA_PARENT_PID"] = str(parent)
    env.update(extra or {})
    return env


def start(
    run_dir: RunDir | Path,
    *,
    attempt: int = 1,
    parent: int | None = None,
    extra_env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m orchestra.runtime <run-dir>`` in its own session, output on output.log."""
    path = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
    log_path = path / "output.log" if path.is_dir() else Path(os.devnull)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "orchestra.runtime", str(path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=run_env(path, attempt=attempt, parent=parent, extra=extra_env),
            cwd=cwd or path.parent.parent.parent.parent.parent,
            start_new_session=True,
        )


@dataclass
class Finished:
    code: int
    run: RunDir

    @property
    def result(self) -> dict[str, Any] | None:
        return read_json_or_none(self.run.result)

    @property
    def log(self) -> str:
        return self.run.output_log.read_text(errors="replace")

    @property
    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.run.metrics).records if self.run.metrics.exists() else []

    @property
    def metadata(self) -> dict[str, Any]:
        return read_json(self.run.metadata)


def wait(proc: subprocess.Popen[bytes], run_dir: RunDir, timeout: float = TIMEOUT) -> Finished:
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"run did not finish in {timeout}s; log:\n{_tail(run_dir)}") from None
    return Finished(code, run_dir)


def run(run_dir: RunDir, **kwargs: Any) -> Finished:
    """Start one attempt and wait for it to end."""
    return wait(start(run_dir, **kwargs), run_dir)


def run_sweep(tmp_path: Path, source: str, *, index: int = 0, **kwargs: Any) -> Finished:
    """Prepare a sweep from ``source``, write run ``index``'s config and run one attempt."""
    sweep = prepare_sweep(tmp_path, source)
    return run(write_run_config(sweep, index), **kwargs)


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    """Poll ``condition`` every few ms until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie nobody reaped counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")


def _tail(run_dir: RunDir) -> str:
    try:
        return run_dir.output_log.read_text(errors="replace")[-4000:]
    except FileNotFoundError:
        return "(no output.log)"
