"""Paths of a sweep's directory and of its runs, and a fast scan of what is on disk."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from orchestra.atomic import fsync_file
from orchestra.errors import RunDirError
from orchestra.pathnames import check_path_component
from orchestra.rundir.jsonio import read_json, write_json
from orchestra.rundir.names import (
    CONFIG_JSON,
    FORMAT,
    LAUNCH,
    LOCK,
    METADATA_JSON,
    METRICS_JSONL,
    OUTPUT_LOG,
    PAYLOAD,
    RESULT_JSON,
    RUNS,
    SNAPSHOTS,
    STATUS_JSON,
    SWEEP_JSON,
)
from orchestra.rundir.status import Status


class RunDir:
    """Paths of one run's directory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._p = os.fspath(path)  # a str: building Paths for 10,000 runs costs more than reading them

    @functools.cached_property
    def path(self) -> Path:
        return Path(self._p)

    config = property(lambda self: self.path / CONFIG_JSON)
    status = property(lambda self: self.path / STATUS_JSON)
    metadata = property(lambda self: self.path / METADATA_JSON)
    result = property(lambda self: self.path / RESULT_JSON)
    output_log = property(lambda self: self.path / OUTPUT_LOG)
    metrics = property(lambda self: self.path / METRICS_JSONL)
    snapshots = property(lambda self: self.path / SNAPSHOTS)

    @property
    def variant(self) -> str:
        return self.path.parent.name

    @property
    def seed(self) -> str:
        return self.path.name

    @property
    def sweep(self) -> SweepDir:
        return SweepDir(self.path.parent.parent.parent)

    def read_status(self, *, strict: bool = False) -> Status | None:
        """The run's status.json, None when it has none. An unreadable one is None too (a live view
        goes on), or with ``strict`` a RunDirError that names the file and says what to do (``up``
        must not guess that a run never started)."""
        path = os.path.join(self._p, STATUS_JSON)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            why = exc.strerror or str(exc)
        else:
            try:
                return Status.from_json(orjson.loads(data))
            except orjson.JSONDecodeError as exc:
                why = f"not valid JSON: {exc}"
            except RunDirError as exc:
                why = str(exc)
        if not strict:
            return None
        raise RunDirError(
            f"{path}: unreadable ({why}); delete it to run {self.variant}/{self.seed} again from its "
            "newest snapshot, or restore it"
        )

    def synced_before(self, status: Status) -> Path | None:
        """The file that must be on disk before ``status`` is recorded: result.json before a run's
        end (a run of the local backend leaves its fsync to that record), else None."""
        return self.result if status.state.finished else None

    def write_status(self, status: Status) -> None:
        first = self.synced_before(status)
        if first is not None:
            fsync_file(first)
        write_json(self.status, status.to_json())

    def __fspath__(self) -> str:
        return self._p

    def __repr__(self) -> str:
        return f"RunDir({self._p!r})"


class SweepDir:
    """Paths of a sweep's directory and of the runs in it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._runs = os.path.join(self.path, RUNS)

    sweep_json = property(lambda self: self.path / SWEEP_JSON)
    payload = property(lambda self: self.path / PAYLOAD)
    lock = property(lambda self: self.path / LOCK)
    launch = property(lambda self: self.path / LAUNCH)
    runs = property(lambda self: self.path / RUNS)

    def run(self, variant: str, seed: int | str) -> RunDir:
        """The directory of run (variant, seed); ``variant`` must be one safe path component."""
        check_path_component(variant, "variant name")
        check_path_component(str(seed), "seed")
        return RunDir(os.path.join(self._runs, variant, str(seed)))

    def exists(self) -> bool:
        return self.sweep_json.is_file()

    def read_plan(self) -> dict[str, Any]:
        """The parsed ``sweep.json``; RunDirError when this is not a sweep directory."""
        if not self.path.is_dir():
            if self.path.exists():
                raise RunDirError(
                    f"{self.path}: not a directory; give the sweep's directory (`orchestra up` printed it)"
                )
            raise RunDirError(f"{self.path}: no such directory")
        if not self.sweep_json.is_file():
            raise RunDirError(
                f"{self.path}: not a sweep directory (no {SWEEP_JSON}); give the directory `orchestra up` made"
            )
        plan = read_json(self.sweep_json)
        if not isinstance(plan, dict) or plan.get("format") != FORMAT:
            raise RunDirError(f"{self.sweep_json}: not a sweep file of format {FORMAT}")
        for key, kind in (("name", str), ("seeds", list), ("variants", list), ("runs", list)):
            if key in plan and not isinstance(plan[key], kind):
                self._malformed(f"its {key!r} is not a {'string' if kind is str else 'list'}")
        for v in plan.get("variants", ()):
            if not (
                isinstance(v, dict) and isinstance(v.get("index"), int) and isinstance(v.get("name"), str)
            ):
                self._malformed("one of its variants has no index and name")
        return plan

    def _malformed(self, why: str) -> None:
        raise RunDirError(
            f"{self.sweep_json}: {why}, so orchestra did not write it: restore it, or plan the sweep anew "
            "under another --name"
        )

    def contains(self, path: str | os.PathLike[str]) -> bool:
        """Whether ``path`` resolves to a place inside this sweep's ``runs/`` directory."""
        runs = os.path.realpath(self.runs)
        return os.path.realpath(path).startswith(runs + os.sep)

    def __repr__(self) -> str:
        return f"SweepDir({str(self.path)!r})"


@dataclass(frozen=True)
class RunRecord:
    """One run directory found by :func:`scan`; ``status`` is None when it has none (yet)."""

    variant: str
    seed: str
    path: Path
    status: Status | None


def scan(sweep: str | os.PathLike[str] | SweepDir) -> list[RunRecord]:
    """Every run directory of a sweep with its status, in directory order (fast: one read per run)."""
    sweep = sweep if isinstance(sweep, SweepDir) else SweepDir(sweep)
    out: list[RunRecord] = []
    try:
        variants = os.scandir(sweep.runs)
    except FileNotFoundError:
        return out
    with variants:
        for v in variants:
            if not v.is_dir(follow_symlinks=False):
                continue
            with os.scandir(v.path) as seeds:
                for s in seeds:
                    if not s.is_dir(follow_symlinks=False):
                        continue
                    run = RunDir(s.path)
                    out.append(RunRecord(v.name, s.name, run.path, run.read_status()))
    return out
