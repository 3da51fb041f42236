"""The environment a run's process starts with (docs/run-directory.md, "The run's process").

:func:`run_env` is what every backend gives a run; a backend adds what only it knows (the local
backend: the parent-death link ``ORCHESTRA_PARENT_PID`` and the GPU devices it placed the run on).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import orchestra
from orchestra.scheduler.gpu import cpu_env

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
ORCHESTRA_ROOT = str(Path(orchestra.__file__).resolve().parent.parent)


def run_env(
    *,
    base: Mapping[str, str],
    sweep_env: Mapping[str, str],
    run_dir: Path,
    attempt: int,
    threads: int,
    sweep_file: Path | None,
    device_env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The full environment of one attempt of one run, without any backend's own additions."""
    env = dict(base)
    env.update(sweep_env)
    for var in THREAD_VARS:
        env.setdefault(var, str(threads))
    paths = [ORCHESTRA_ROOT]
    if sweep_file is not None:
        paths.append(str(sweep_file.parent))
    paths += [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in paths]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.update(cpu_env() if device_env is None else device_env)
    env["ORCHESTRA_RUN_DIR"] = str(run_dir)
    env["ORCHESTRA_ATTEMPT"] = str(attempt)
    env.pop("ORCHESTRA_PARENT_PID", None)  # only a backend that links the run to its parent sets it
    env.pop("ORCHESTRA_RESULT_FSYNC", None)  # only a backend whose orchestrator fsyncs result.json sets it
    env.pop("ORCHESTRA_CGROUP", None)  # only a backend that made the run a cgroup to join sets it
    return env
