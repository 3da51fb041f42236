"""garage's names: ``from orchestra.compat.garage import wrap_experiment`` for ``from garage import ...``.

Module paths follow garage's: ``orchestra.compat.garage.experiment`` (``garage.experiment``),
``.experiment.experiment`` (``wrap_experiment``, ``ExperimentTemplate``, ``ExperimentContext``,
``dump_json``, ``LogEncoder``, ``get_metadata``, ``make_launcher_archive``), ``.experiment.local``
(the deprecated ``run_experiment`` / ``to_local_command``), ``.experiment.deterministic``
(``set_seed``, ``get_seed``). Every name is also importable from here. Differences from garage are
listed in each module's docstring and in docs/compat.md.
"""

from orchestra.compat.garage.experiment import *  # noqa: F403
from orchestra.compat.garage.experiment import __all__ as _experiment_names
from orchestra.compat.garage.experiment.deterministic import get_seed, set_seed

__all__ = [*_experiment_names, "get_seed", "set_seed"]
