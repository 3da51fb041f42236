"""Sweep directories built by hand, exactly as docs/run-directory.md lays them out.

The writers are orchestra's own (rundir.write_json, JsonlWriter, Status), so these directories
are what the orchestrator and the runtime write, record for record.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from orchestra.rundir import FORMAT, Exit, JsonlWriter, Reason, RunDir, State, Status, SweepDir, write_json
from orchestra.space.variant import Variant, VariantList

T0 = 1763700000.0


def write_sweep(
    root: Path, configs: Sequence[Mapping[str, Any]], seeds: Sequence[int] = (0, 1), name: str = "demo"
) -> tuple[SweepDir, list[Variant]]:
    """A sweep directory with ``sweep.json`` for these configs and seeds, and no runs yet."""
    variants = VariantList(configs).variants()
    sweep_dir = SweepDir(root / name)
    sweep_dir.runs.mkdir(parents=True)
    write_json(
        sweep_dir.sweep_json,
        {
            "format": FORMAT,
            "name": name,
            "created": T0,
            "updated": T0,
            "orchestra_version": "0.1.0",
            "sweep_file": str(root / f"{name}.py"),
            "sweep_attr": "sweep",
            "entry": "train",
            "entry_module": f"orchestra_sweep_{name}",
            "payload_sha256": None,
            "settings": {"resources": {"cpus": 1, "gpus": 0, "gpu_mem": None, "max_gpu_util": None}},
            "seeds": list(seeds),
            "variants": [v.to_json() for v in variants],
            "retired": [],
        },
    )
    return sweep_dir, variants


def write_status(
    run: RunDir, state: str, attempt: int = 1, reason: str | None = None, pid: int = 4242
) -> None:
    st = State(state)
    if reason is None:
        reason = {"completed": "success", "failed": "exception", "cancelled": "cancelled"}.get(state)
    write_json(
        run.status,
        Status(
            state=st,
            attempt=attempt,
            exit=Exit(Reason(reason)) if reason else None,
            pid=pid,
            host="testhost",
            queued_at=T0,
            started_at=T0 + 1,
            ended_at=T0 + 9 if st.finished else None,
        ).to_json(),
    )


def write_run(
    sweep_dir: SweepDir,
    variant: Variant,
    seed: int,
    *,
    state: str = "completed",
    records: Sequence[Mapping[str, Any]] | None = None,
    curves: Mapping[str, Sequence[Any]] | None = None,
    attempt: int = 1,
    reason: str | None = None,
) -> RunDir:
    """A run directory with config, status and (from ``curves`` or raw ``records``) metrics.jsonl.

    ``curves={"loss": [...]}`` logs one record per step 0..n-1 with every curve's value there.
    """
    run = sweep_dir.run(variant.name, seed)
    run.path.mkdir(parents=True)
    write_json(
        run.config,
        {"sweep": sweep_dir.path.name, "run": 0, "variant": variant.name, "seed": seed, "key": variant.key,
         "config": dict(variant.params), "options": {}},
    )  # fmt: skip
    write_status(run, state, attempt, reason)
    if curves is not None:
        n = len(next(iter(curves.values())))
        records = [
            {
                "step": i,
                "time": T0 + 2 + i * 0.1,
                "attempt": attempt,
                "values": {k: v[i] for k, v in curves.items()},
            }
            for i in range(n)
        ]
    if records is not None:
        with JsonlWriter(run.metrics) as w:
            for r in records:
                w.write(r)
    return run


def record(step: int, attempt: int = 1, **values: Any) -> dict[str, Any]:
    return {"step": step, "time": T0 + 2 + step * 0.1 + attempt, "attempt": attempt, "values": values}


@contextlib.contextmanager
def live_orchestrator(sweep_dir: SweepDir) -> Iterator[subprocess.Popen[str]]:
    """A separate process holding the sweep's lock, as a live ``orchestra up`` does, until the block ends."""
    code = (
        "import sys\n"
        "from orchestra.rundir import SweepDir, SweepLock\n"
        f"lock = SweepLock(SweepDir({str(sweep_dir.path)!r}))\n"
        "assert lock.acquire()\n"
        "print('locked', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=60)
