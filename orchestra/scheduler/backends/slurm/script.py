"""A submission: one ``sbatch --array`` of runs, written into ``<sweep>/slurm/<n>/`` before it is submitted.

::

    slurm/<n>/job.sh             the batch script (Slurm runs a copy; this one is for people to read)
    slurm/<n>/tasks.tsv          the index: array task id, run id, attempt, run directory
    slurm/<n>/logs/<task>.log    symlinks to the runs' output.log: Slurm appends each task's output there
    slurm/<n>/events/<task>.<restarts>.start|end
                                 written by the job script when its run starts and when it ends
                                 (without starting a process: a short run's job stays short)
                                 (node, time; at the end the exit status and whether the time-limit
                                 signal came): how a job that left Slurm's queue ended
    slurm/<n>/job_id             the array's job id, once sbatch returned it

Array task ``i`` runs line ``i`` of ``tasks.tsv``. The job script exports the run's directory and
attempt (the recorded attempt plus ``SLURM_RESTART_COUNT``, so a requeued job is a new attempt)
and starts ``python -m orchestra.runtime <run-dir>`` as its child: a ``--signal=B:USR1@lead`` before
the time limit reaches the script alone, which records it and passes SIGTERM on to the run (which
may then save a snapshot); a SIGTERM from ``scancel`` or Slurm's own time limit is passed on too.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from orchestra.atomic import write_bytes

SLURM_DIR = "slurm"


@dataclass(frozen=True)
class Entry:
    """One array task: which run, which attempt."""

    task: int
    run_id: str
    attempt: int
    run_dir: Path


@dataclass
class Submission:
    """One array job of the sweep and its files."""

    number: int
    dir: Path
    entries: list[Entry] = field(default_factory=list)
    array_job_id: int | None = None

    @property
    def script(self) -> Path:
        return self.dir / "job.sh"

    @property
    def index(self) -> Path:
        return self.dir / "tasks.tsv"

    @property
    def events(self) -> Path:
        return self.dir / "events"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    @property
    def job_id_file(self) -> Path:
        return self.dir / "job_id"

    def write(self, directives: Sequence[str], *, python: str, setup: Sequence[str], gpus: bool) -> None:
        """The index, the output symlinks and the batch script (nothing is submitted)."""
        self.events.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        lines = ["# task\trun\tattempt\tdirectory"]
        for e in self.entries:
            lines.append(f"{e.task}\t{e.run_id}\t{e.attempt}\t{e.run_dir}")
            link = self.logs / f"{e.task}.log"
            if link.is_symlink():
                link.unlink()
            link.symlink_to(e.run_dir / "output.log")
        write_bytes(self.index, ("\n".join(lines) + "\n").encode())
        text = batch_script(self, directives, python=python, setup=setup, gpus=gpus)
        write_bytes(self.script, text.encode())
        os.chmod(self.script, 0o755)

    def record_job_id(self, job_id: int) -> None:
        self.array_job_id = job_id
        write_bytes(self.job_id_file, f"{job_id}\n".encode())

    @classmethod
    def read(cls, directory: Path) -> Submission | None:
        """A submission written earlier (None when its index cannot be read)."""
        try:
            number = int(directory.name)
            text = (directory / "tasks.tsv").read_text()
        except (ValueError, OSError):
            return None
        sub = cls(number, directory)
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            parts = line.split("\t", 3)
            if len(parts) == 4 and parts[0].isdigit() and parts[2].isdigit():
                sub.entries.append(Entry(int(parts[0]), parts[1], int(parts[2]), Path(parts[3])))
        try:
            sub.array_job_id = int((directory / "job_id").read_text().strip())
        except (OSError, ValueError):
            pass
        return sub


def submissions(sweep_path: Path) -> list[Submission]:
    """Every submission of a sweep, oldest first."""
    root = sweep_path / SLURM_DIR
    found = [Submission.read(d) for d in root.iterdir() if d.is_dir()] if root.is_dir() else []
    return sorted((s for s in found if s is not None), key=lambda s: s.number)


def next_number(sweep_path: Path) -> int:
    """The number of the sweep's next submission (one more than the largest written)."""
    root = sweep_path / SLURM_DIR
    numbers = [int(d.name) for d in root.iterdir() if d.name.isdigit()] if root.is_dir() else []
    return max(numbers, default=0) + 1


def batch_script(
    sub: Submission, directives: Sequence[str], *, python: str, setup: Sequence[str], gpus: bool
) -> str:
    """The job script of a submission; see the module docstring."""
    here = shlex.quote(str(sub.dir))
    devices = (
        "export ORCHESTRA_DEVICE=cuda:0  # Slurm set CUDA_VISIBLE_DEVICES to the job's GPUs"
        if gpus
        else "export CUDA_VISIBLE_DEVICES= ORCHESTRA_DEVICE=cpu  # no GPU asked for: none visible"
    )
    head = [
        "#!/bin/bash",
        f"# orchestra: submission {sub.number} of the sweep in {sub.dir.parent.parent}: one array",
        "# task per run (tasks.tsv beside this file maps task ids to runs). Written by orchestra;",
        "# Slurm runs a copy of it. See docs/slurm.md.",
        *(f"#SBATCH {d}" for d in directives),
    ]
    body = f"""
set -u
here={here}
task=${{SLURM_ARRAY_TASK_ID:-0}}
restarts=${{SLURM_RESTART_COUNT:-0}}
node=${{SLURMD_NODENAME:-$(hostname -s)}}
mapfile -t -s $((task + 1)) -n 1 line <"$here/tasks.tsv"  # line 1 + task: no process started for it
IFS=$'\t' read -r t run_id attempt run_dir <<<"${{line[0]:-}}"
if [ "${{t:-}}" != "$task" ] || [ -z "${{run_dir:-}}" ]; then
    echo "[orchestra] array task $task is not in $here/tasks.tsv" >&2
    exit 3
fi
export ORCHESTRA_RUN_DIR="$run_dir" ORCHESTRA_ATTEMPT=$((attempt + restarts))
{devices}
event() {{  # event NAME [JSON fields] -> events/<task>.<restarts>.NAME (a reader retries a part-written one)
    local at=${{EPOCHREALTIME:-$(date +%s.%N)}}
    printf '{{"job": "%s", "task": %s, "restarts": %s, "attempt": %s, "node": "%s", "at": %s%s}}\n' \
        "${{SLURM_JOB_ID:-}}" "$task" "$restarts" "$ORCHESTRA_ATTEMPT" "$node" "${{at/,/.}}" "${{2:-}}" \
        >"$here/events/$task.$restarts.$1"
}}
"""
    setup_lines = "".join(f"{line}\n" for line in setup)
    run = f"""event start
trap '' USR1  # the run itself must not die of the time-limit signal: it is for this script
{shlex.quote(python)} -m orchestra.runtime "$run_dir" </dev/null &
child=$!
limit=false
trap 'limit=true; kill -TERM "$child" 2>/dev/null' USR1
trap 'kill -TERM "$child" 2>/dev/null' TERM
while :; do
    wait "$child"
    rc=$?
    kill -0 "$child" 2>/dev/null || break
done
if [ "$rc" -gt 128 ]; then  # the last wait may have been cut short by a signal as the run ended
    wait "$child" 2>/dev/null
    again=$?
    [ "$again" -ne 127 ] && rc=$again
fi
event end ", \\"rc\\": $rc, \\"time_limit\\": $limit"
exit "$rc"
"""
    return "\n".join(head) + "\n" + body + setup_lines + run
