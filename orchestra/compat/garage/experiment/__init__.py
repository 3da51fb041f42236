"""garage's ``garage.experiment``: ``wrap_experiment`` and its context, ``Snapshotter``, the deprecated
``run_experiment`` / ``to_local_command``, and ``deterministic``."""

from orchestra.compat.garage.experiment import deterministic
from orchestra.compat.garage.experiment.experiment import (
    EIGHT_MEBIBYTES,
    ExperimentContext,
    ExperimentTemplate,
    LogEncoder,
    NotAFileError,
    SnapshotConfig,
    Snapshotter,
    dump_json,
    get_metadata,
    make_launcher_archive,
    wrap_experiment,
)
from orchestra.compat.garage.experiment.local import run_experiment, to_local_command

__all__ = [
    "EIGHT_MEBIBYTES",
    "ExperimentContext",
    "ExperimentTemplate",
    "LogEncoder",
    "NotAFileError",
    "SnapshotConfig",
    "Snapshotter",
    "deterministic",
    "dump_json",
    "get_metadata",
    "make_launcher_archive",
    "run_experiment",
    "to_local_command",
    "wrap_experiment",
]
