"""The seed libraries' own names, as thin adapters over orchestra's native model.

An existing sweep moves over by changing its imports:

- ``orchestra.compat.lagom``: the RL core (agents, data, runners, engine, CMAES/CEM), ``Logger``,
  ``.experiment`` (``Config``, ``Grid``, ``Sample``, ``Condition``, ``run_experiment``), ``.envs``,
  ``.utils``, ``.transform``;
- ``orchestra.compat.spinup``: ``ExperimentGrid``, ``call_experiment``, ``setup_logger_kwargs``
  (``.utils.run_utils``) and ``.user_config``;
- ``orchestra.compat.garage``: ``wrap_experiment``, ``ExperimentContext``, ``Snapshotter``, ``dump_json``,
  the deprecated ``run_experiment``/``to_local_command`` (``.experiment``), ``.experiment.deterministic``;
- ``orchestra.compat.pyexputils``: ``ExperimentDescription``, ``loadExperiment``, ``getConfig``, results
  (``.results``, ``.results.paths``, ``.results.indices``), ``.runner.parallel``, Slurm helpers.

Each behaves as its library's own code does (the code wins where the library's README differs),
except where that library has a plain bug (a crash, a silent override): there the adapter does the
evident thing or raises one clear error, and its docstring says so. docs/compat.md lists every name
and every difference.
"""
