"""spinningup's names: ``from orchestra.compat.spinup import ExperimentGrid`` for spinningup's.

Module paths follow spinningup's: ``orchestra.compat.spinup.utils.run_utils`` (``ExperimentGrid``,
``call_experiment``, ``setup_logger_kwargs``, ``all_bools``, ``valid_str``) and
``orchestra.compat.spinup.user_config`` (``DEFAULT_DATA_DIR``, ``FORCE_DATESTAMP``,
``DEFAULT_SHORTHAND``, ``WAIT_BEFORE_LAUNCH``); every name is also importable from here. The
defaults are read when used, so set them on ``orchestra.compat.spinup.user_config``.
"""

from orchestra.compat.spinup.user_config import (
    DEFAULT_DATA_DIR,
    DEFAULT_SHORTHAND,
    FORCE_DATESTAMP,
    WAIT_BEFORE_LAUNCH,
)
from orchestra.compat.spinup.utils.run_utils import (
    ExperimentGrid,
    all_bools,
    call_experiment,
    setup_logger_kwargs,
    valid_str,
)

__all__ = [
    "DEFAULT_DATA_DIR",
    "DEFAULT_SHORTHAND",
    "FORCE_DATESTAMP",
    "WAIT_BEFORE_LAUNCH",
    "ExperimentGrid",
    "all_bools",
    "call_experiment",
    "setup_logger_kwargs",
    "valid_str",
]
