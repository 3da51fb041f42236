"""The names and numbers of the run-directory contract (docs/run-directory.md): its files, and the
exit statuses of a run's process. Free to import: every run's process does."""

from __future__ import annotations

SWEEP_JSON = "sweep.json"
PAYLOAD = "payload.pkl"
LOCK = "orchestra.lock"
LAUNCH = "launch"
RUNS = "runs"

CONFIG_JSON = "config.json"
STATUS_JSON = "status.json"
METADATA_JSON = "metadata.json"
RESULT_JSON = "result.json"
OUTPUT_LOG = "output.log"
METRICS_JSONL = "metrics.jsonl"
SNAPSHOTS = "snapshots"

FORMAT = 1  # the version of this layout, written into sweep.json

# Exit statuses of `python -m orchestra.runtime` (anything else is the user's own sys.exit code).
EXIT_OK = 0
EXIT_ERROR = 1  # the entry function raised; result.json has the exception
EXIT_SETUP = 3  # the run could not start (bad run dir, payload, missing parameter); retrying will not help
EXIT_TERMINATED = 128 + 15  # SIGTERM reached the run and it stopped
EXIT_UNRECORDED = 4  # the entry function returned, but result.json could not be written (a full disk)
