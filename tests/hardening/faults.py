"""What the fault tests look at: a sweep's processes, the grandchildren its runs recorded, whole files."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import orjson

from orchestra import proc


def sweep_processes(sweep_dir: Path) -> list[int]:
    """Live processes whose environment names a run directory of this sweep."""
    prefix = str(sweep_dir / "runs") + os.sep
    return proc.with_environ("ORCHESTRA_RUN_DIR", lambda d: d.startswith(prefix))


def family(sweep_dir: Path) -> list[int]:
    """The grandchildren the runs wrote down in their ``family`` files."""
    out = []
    for f in (sweep_dir / "runs").glob("*/*/family"):
        out += [int(p) for p in f.read_text().split() if p.isdigit()]
    return out


class Alive:
    """Processes named by pid and start time, so that a reused pid is not mistaken for a survivor."""

    def __init__(self, pids: list[int] | set[int] = ()) -> None:  # type: ignore[assignment]
        self.procs: dict[int, int] = {}
        for pid in pids:
            st = proc.stat(pid)
            if st is not None and st.alive:
                self.procs[pid] = st.start

    def alive(self) -> list[int]:
        out = []
        for pid, start in self.procs.items():
            st = proc.stat(pid)
            if st is not None and st.alive and st.start == start:
                out.append(pid)
        return out

    def __len__(self) -> int:
        return len(self.procs)


def orchestrators_temp_file(path: Path, sweep_dir: Path) -> bool:
    """A temp file of a write of the orchestrator's (the sweep's own files, launch/, a run's status
    and config); the other temp files in run directories are the run's."""
    if path.parent in (sweep_dir, sweep_dir / "launch"):
        return True
    return path.name.startswith((".status.json.", ".config.json."))


def run_files_are_whole(sweep_dir: Path, *, final: bool = False) -> list[str]:
    """Every JSON file of the sweep parses, every metrics line but a last unfinished one parses;
    ``final``: no temp file of the orchestrator's is left either. Returns the problems found."""
    problems = []
    if not sweep_dir.exists():
        return problems
    for path in sweep_dir.rglob("*"):
        if path.name.endswith(".tmp"):
            if final and orchestrators_temp_file(path, sweep_dir):
                problems.append(f"temp file left: {path}")
            continue
        if path.suffix == ".json" and path.is_file():
            try:
                orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError as exc:
                problems.append(f"{path}: {exc}")
        elif path.suffix == ".jsonl" and path.is_file():
            data = path.read_bytes()
            lines = data.split(b"\n")
            if not data.endswith(b"\n"):
                lines = lines[:-1]  # a writer killed mid-line: readers skip it (docs/run-directory.md)
            for n, line in enumerate(lines, 1):
                if not line:
                    continue
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    problems.append(f"{path}:{n}: {exc}")
    return problems


def own_cgroup() -> str | None:
    """The directory of this process's cgroup v2 (None: no cgroup v2 hierarchy is mounted)."""
    mount = own = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.startswith("cgroup2 ") and left.split()[3] == "/":
                mount = left.split()[4]
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                own = line[3:].strip()
    if mount is None or own is None:
        return None
    return os.path.join(mount, own.lstrip("/"))


@functools.cache
def cgroups_writable() -> str:
    """Why this process cannot give runs cgroups of their own ("" when it can: a cgroup v2 was made
    under its own and a process moved into it, as the local backend does)."""
    own = own_cgroup()
    if own is None:
        return "no cgroup v2 hierarchy is mounted"
    probe = os.path.join(own, f"orchestra-test-probe-{os.getpid()}")
    child = subprocess.Popen(["sleep", "30"])
    try:
        os.makedirs(probe)
        with open(os.path.join(probe, "cgroup.procs"), "w") as f:
            f.write(str(child.pid))
    except OSError as exc:
        return f"cannot make a cgroup under this process's own ({exc.strerror})"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        with contextlib.suppress(OSError):
            os.rmdir(probe)
    return ""


@contextlib.contextmanager
def on_a_pty(args: list[str], *, cwd: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real CLI on a pseudo-terminal, its output drained on a thread; killed at the end of the block."""
    import pty
    import sys

    master, slave = pty.openpty()
    p = subprocess.Popen(
        [sys.executable, "-m", "orchestra", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env={**os.environ, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(slave)

    def drain() -> None:
        with contextlib.suppress(OSError):
            while os.read(master, 65536):
                pass

    threading.Thread(target=drain, daemon=True).start()
    try:
        yield p
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        os.close(master)


class Lines:
    """The output of a process, collected line by line on a thread (no pipe ever fills up)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._thread = threading.Thread(target=self._read, args=(process.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for line in stream:
            self.lines.append(line)

    def has(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)
