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

The package owns the contract's vocabulary, one module a topic: :mod:`~orchestra.rundir.layout`
(paths, scan), :mod:`~orchestra.rundir.jsonio` (JSON and JSONL I/O), :mod:`~orchestra.rundir.status`
(states, reasons, ``status.json``), :mod:`~orchestra.rundir.lock`, :mod:`~orchestra.rundir.plan`
(runs of ``sweep.json``) and :mod:`~orchestra.rundir.steps` (which metric keys are the step).
"""

from __future__ import annotations

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
    RunDir,
    RunRecord,
    SweepDir,
    scan,
)
from orchestra.rundir.lock import (
    SweepLock,
    live_holder,
)
from orchestra.rundir.plan import (
    PlannedRunRef,
    planned_runs,
    resolve_run,
)
from orchestra.rundir.status import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_SETUP,
    EXIT_TERMINATED,
    HISTORY_LIMIT,
    LOST,
    STATE_NAMES,
    Exit,
    Reason,
    State,
    Status,
    observed_state,
    outlives_orchestrator,
)
from orchestra.rundir.steps import (
    STEP_KEYS,
)

__all__ = [
    "CONFIG_JSON",
    "EXIT_ERROR",
    "EXIT_OK",
    "EXIT_SETUP",
    "EXIT_TERMINATED",
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
    "Reason",
    "RunDir",
    "RunRecord",
    "State",
    "Status",
    "SweepDir",
    "SweepLock",
    "append_jsonl",
    "dumps",
    "last_record",
    "last_records",
    "live_holder",
    "observed_state",
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
