"""The run directory: the on-disk contract every backend, frontend and analysis talks through.

Layout (docs/run-directory.md is the reference)::

    <root>/<sweep>/
      sweep.json          the plan: variants, seeds, settings, code version      (orchestrator)
      payload.pkl         the cloudpickled entry function                        (orchestrator)
      orchestra.lock      flock held by the live orchestrator of this sweep
      launch/             git hash, diff, optional archive of the launching repo (orchestrator)
      runs/<variant>/<seed>/
        config.json       the run's resolved config, seed, name, run options     (orchestrator)
        status.json       queued/running/completed/failed/cancelled and why      (orchestrator only)
        metadata.json     git, launcher, host, python, packages, env             (run only)
        result.json       return-value summary or the exception                  (run only)
        output.log        stdout+stderr of every attempt                         (run's own fds)
        metrics.jsonl     one JSON line per Logger.dump()                        (run only, append)
        snapshots/        garage-style snapshot files                            (run only)

One writer per file; JSON files are replaced atomically (temp file, fsync, rename); ``.jsonl``
files are only appended to, one whole line per ``write``.

The package owns the contract's vocabulary, one module a topic: :mod:`~orchestra.rundir.names`
(file names, a run's exit statuses), :mod:`~orchestra.rundir.files`
(opening run files without following planted symlinks), :mod:`~orchestra.rundir.layout` (paths,
scan), :mod:`~orchestra.rundir.jsonio` (JSON and JSONL I/O), :mod:`~orchestra.rundir.status` (states,
reasons, ``status.json``), :mod:`~orchestra.rundir.lock`, :mod:`~orchestra.rundir.plan` (runs of
``sweep.json``) and :mod:`~orchestra.rundir.steps` (which metric keys are the step).

Every name below is imported on first use (PEP 562): a run's process imports this package and
must not pay for the orchestrator's half of it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestra.rundir.files import (
        PlantedLinkError,
        RunFiles,
        ensure_run_dir,
        open_run_file,
    )
    from orchestra.rundir.jsonio import (
        JsonlRead,
        JsonlTail,
        JsonlWriter,
        append_jsonl,
        dumps,
        last_record,
        last_records,
        parse_jsonl,
        read_json,
        read_json_or_none,
        read_jsonl,
        write_json,
    )
    from orchestra.rundir.layout import (
        RunDir,
        RunRecord,
        SweepDir,
        scan,
    )
    from orchestra.rundir.lock import (
        SweepLock,
        describe_holder,
        live_holder,
    )
    from orchestra.rundir.names import (
        CONFIG_JSON,
        EXIT_ERROR,
        EXIT_OK,
        EXIT_SETUP,
        EXIT_TERMINATED,
        EXIT_UNRECORDED,
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
    from orchestra.rundir.plan import (
        PlannedRunRef,
        planned_runs,
        resolve_run,
    )
    from orchestra.rundir.status import (
        HISTORY_LIMIT,
        LOST,
        STATE_NAMES,
        Exit,
        Reason,
        State,
        Status,
        check_state_names,
        observed_state,
        outlives_orchestrator,
    )
    from orchestra.rundir.steps import (
        STEP_KEYS,
    )

_HOMES = {
    "EXIT_ERROR": "names",
    "EXIT_OK": "names",
    "EXIT_SETUP": "names",
    "EXIT_TERMINATED": "names",
    "EXIT_UNRECORDED": "names",
    "PlantedLinkError": "files",
    "RunFiles": "files",
    "ensure_run_dir": "files",
    "open_run_file": "files",
    "JsonlRead": "jsonio",
    "JsonlTail": "jsonio",
    "JsonlWriter": "jsonio",
    "append_jsonl": "jsonio",
    "dumps": "jsonio",
    "last_record": "jsonio",
    "last_records": "jsonio",
    "parse_jsonl": "jsonio",
    "read_json": "jsonio",
    "read_json_or_none": "jsonio",
    "read_jsonl": "jsonio",
    "write_json": "jsonio",
    "RunDir": "layout",
    "RunRecord": "layout",
    "SweepDir": "layout",
    "scan": "layout",
    "SweepLock": "lock",
    "describe_holder": "lock",
    "live_holder": "lock",
    "CONFIG_JSON": "names",
    "FORMAT": "names",
    "LAUNCH": "names",
    "LOCK": "names",
    "METADATA_JSON": "names",
    "METRICS_JSONL": "names",
    "OUTPUT_LOG": "names",
    "PAYLOAD": "names",
    "RESULT_JSON": "names",
    "RUNS": "names",
    "SNAPSHOTS": "names",
    "STATUS_JSON": "names",
    "SWEEP_JSON": "names",
    "PlannedRunRef": "plan",
    "planned_runs": "plan",
    "resolve_run": "plan",
    "HISTORY_LIMIT": "status",
    "LOST": "status",
    "STATE_NAMES": "status",
    "check_state_names": "status",
    "Exit": "status",
    "Reason": "status",
    "State": "status",
    "Status": "status",
    "observed_state": "status",
    "outlives_orchestrator": "status",
    "STEP_KEYS": "steps",
}

__all__ = [
    "CONFIG_JSON",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_SETUP",
    "EXIT_TERMINATED",
    "EXIT_UNRECORDED",
    "FORMAT",
    "HISTORY_LIMIT",
    "LAUNCH",
    "LOCK",
    "LOST",
    "METADATA_JSON",
    "METRICS_JSONL",
    "OUTPUT_LOG",
    "PAYLOAD",
    "RESULT_JSON",
    "RUNS",
    "SNAPSHOTS",
    "STATE_NAMES",
    "STATUS_JSON",
    "STEP_KEYS",
    "SWEEP_JSON",
    "Exit",
    "JsonlRead",
    "JsonlTail",
    "JsonlWriter",
    "PlannedRunRef",
    "PlantedLinkError",
    "Reason",
    "RunDir",
    "RunFiles",
    "RunRecord",
    "State",
    "Status",
    "SweepDir",
    "SweepLock",
    "append_jsonl",
    "check_state_names",
    "describe_holder",
    "dumps",
    "ensure_run_dir",
    "last_record",
    "last_records",
    "live_holder",
    "observed_state",
    "open_run_file",
    "outlives_orchestrator",
    "parse_jsonl",
    "planned_runs",
    "read_json",
    "read_json_or_none",
    "read_jsonl",
    "resolve_run",
    "scan",
    "write_json",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'orchestra.rundir' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"orchestra.rundir.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
