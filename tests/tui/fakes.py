"""A sweep with fixed rows for snapshots: the scheduler's read interface, no processes, a frozen clock.

Commands change rows as the scheduler would (cancel, retry, pause) so the dashboard's own logic
still runs; the runs' files (output.log, metrics.jsonl) are real files written up front.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from orchestra.rundir import Exit, Reason, State
from orchestra.scheduler.commands import Action, Command, Op, Reply
from orchestra.scheduler.table import RunRow, Snapshot

T0 = 1_763_700_000.0  # the sweep started; the clock is frozen at NOW
NOW = T0 + 125.0


def frozen_clock() -> float:
    return NOW


@dataclass(frozen=True)
class FakeGpu:
    index: int
    name: str
    total: int
    orchestra: int
    others: int
    reserved: int
    util: float | None
    runs: tuple[str, ...] = ()
    ok: bool = True
    error: str | None = None


class FakeGpus:
    def __init__(self, views: list[FakeGpu]) -> None:
        self._views = views

    def views(self) -> list[FakeGpu]:
        return self._views


class FakeSweep:
    def __init__(self, rows: list[RunRow], gpus: FakeGpus | None = None) -> None:
        self.rows = {r.id: r for r in rows}
        self.version = 1
        self.done = False
        self.paused = False
        self.gpus = gpus
        self.log: list[str] = []

    def snapshot(self) -> Snapshot:
        return Snapshot(self.version, tuple(self.rows.values()), self.paused, False, T0)

    def _set(self, run_id: str, **changes: Any) -> None:
        self.rows[run_id] = replace(self.rows[run_id], **changes)
        self.version += 1

    def gpu_views(self) -> list[FakeGpu]:
        return self.gpus.views() if self.gpus is not None else []

    async def send(self, command: Command) -> list[Reply]:
        """What the scheduler would do, on the rows alone."""
        op = command.op
        for run_id in command.runs:
            self.log.append(f"{op.value} {run_id}")
        if op is Op.CANCEL:
            return [
                self._change(r, op, Action.CANCELLED, State.CANCELLED, Exit(Reason.CANCELLED))
                for r in command.runs
            ]
        if op is Op.KILL:
            return [
                self._change(r, op, Action.KILLED, State.CANCELLED, Exit(Reason.KILLED, -9, "SIGKILL"))
                for r in command.runs
            ]
        if op is Op.RETRY:
            return [self._change(r, op, Action.REQUEUED, State.QUEUED, None) for r in command.runs]
        if op in (Op.PAUSE, Op.RESUME):
            self.paused = op is Op.PAUSE
            self.version += 1
            return [Reply(op, Action.PAUSED if self.paused else Action.RESUMED)]
        self.done = True
        return [Reply(op, Action.INTERRUPTING)]

    def _change(self, run_id: str, op: Op, action: Action, state: State, exit_: Exit | None) -> Reply:
        self._set(run_id, state=state, exit=exit_)
        return Reply(op, action, run_id, state.value)


def demo_sweep(root: Path, *, gpus: bool = True) -> FakeSweep:
    """12 runs (3 learning rates x 2 nets x 2 seeds) in every state, with logs and metrics on disk."""
    rows = []
    states = (
        [State.RUNNING] * 4 + [State.COMPLETED] * 4 + [State.FAILED, State.CANCELLED] + [State.QUEUED] * 2
    )
    index = 0
    for lr in (0.0003, 0.001, 0.01):
        for net in ("mlp", "cnn"):
            variant = f"lr={lr}_net={net}"
            for seed in (0, 1):
                state = states[index]
                started = T0 + 5 * index if state is not State.QUEUED else None
                ended = started + 60 if started is not None and state.finished else None
                steps = 0 if state is State.QUEUED else (40 + 7 * index if state is State.RUNNING else 100)
                run_dir = root / variant / str(seed)
                run_dir.mkdir(parents=True)
                loss = [
                    math.exp(-s / (30 + 10 * seed)) * (1 + lr * 100) + 0.02 * math.sin(s / 3)
                    for s in range(steps)
                ]
                with open(run_dir / "metrics.jsonl", "wb") as f:
                    for s, value in enumerate(loss):
                        record = {
                            "step": s,
                            "time": T0 + s,
                            "attempt": 1,
                            "values": {"iteration": s, "loss": value, "reward": s * 2.5 - value},
                        }
                        f.write(orjson.dumps(record) + b"\n")
                with open(run_dir / "output.log", "wb") as f:
                    for s in range(steps):
                        f.write(b"\x1b[32mINFO\x1b[0m iteration %d loss %.4f\n" % (s, loss[s]))
                        f.write(
                            b"\r".join(b"eval %3d%%|%s|" % (p, b"#" * (p // 10)) for p in range(0, 101, 25))
                            + b"\n"
                        )
                    if state is State.FAILED:
                        f.write(b"Traceback (most recent call last):\nValueError: loss diverged\n")
                exit_ = {
                    State.COMPLETED: Exit(Reason.SUCCESS, 0),
                    State.FAILED: Exit(Reason.EXCEPTION, 1, None, "ValueError: loss diverged"),
                    State.CANCELLED: Exit(Reason.CANCELLED, -15, "SIGTERM"),
                }.get(state)
                rows.append(
                    RunRow(
                        index=index,
                        id=f"{variant}/{seed}",
                        variant=variant,
                        seed=seed,
                        params={"lr": lr, "net": net},
                        dir=run_dir,
                        state=state,
                        attempt=0 if state is State.QUEUED else 1,
                        exit=exit_,
                        gpus=({"index": index % 2, "uuid": f"GPU-{index % 2}", "name": "A100"},)
                        if state is State.RUNNING
                        else (),
                        queued_at=T0,
                        started_at=started,
                        ended_at=ended,
                        metrics={
                            "iteration": steps - 1,
                            "loss": loss[-1],
                            "reward": (steps - 1) * 2.5 - loss[-1],
                        }
                        if steps
                        else {},
                        step=steps - 1 if steps else None,
                        records=steps,
                    )
                )
                index += 1
    devices = FakeGpus(
        [
            FakeGpu(0, "NVIDIA A100-SXM4-40GB", 40 << 30, 14 << 30, 2 << 30, 4 << 30, 87.0, ("a", "b")),
            FakeGpu(1, "NVIDIA A100-SXM4-40GB", 40 << 30, 9 << 30, 0, 6 << 30, 64.0, ("c", "d")),
        ]
    )
    return FakeSweep(rows, devices if gpus else None)
