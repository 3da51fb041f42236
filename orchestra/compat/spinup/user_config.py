"""spinningup's ``spinup.user_config``: defaults that ``ExperimentGrid`` and ``call_experiment`` read when used.

Assign to change them for the whole process, as spinningup's users edit ``user_config.py``:
``orchestra.compat.spinup.user_config.DEFAULT_DATA_DIR = "/scratch/me/data"``.
"""

DEFAULT_DATA_DIR = "data"
"""Where ``setup_logger_kwargs`` puts experiments without a ``data_dir``; a relative path is taken
from the current directory (spinningup's default lies beside its own package)."""

FORCE_DATESTAMP = False
"""Datestamp every experiment's directory, whatever ``datestamp=`` says."""

DEFAULT_SHORTHAND = True
"""Give keys added without a shorthand spinningup's default one (``pi_lr`` -> ``pi``)."""

WAIT_BEFORE_LAUNCH = 5
"""Seconds ``ExperimentGrid.run`` waits after listing the variants, so a wrong grid can be stopped."""
