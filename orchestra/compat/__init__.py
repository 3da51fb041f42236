"""The seed libraries' own names, as thin adapters over orchestra's native model.

An existing sweep moves over by changing its imports:

- ``orchestra.compat.lagom``: ``Config``, ``Grid``, ``Sample``, ``Condition`` (lagom.experiment), ``Logger``;
- ``orchestra.compat.spinup``: ``ExperimentGrid`` and ``call_experiment`` (spinup.utils.run_utils);
- ``orchestra.compat.garage``: ``wrap_experiment``, ``ExperimentContext``, ``Snapshotter``, ``dump_json``;
- ``orchestra.compat.pyexputils``: ``ExperimentDescription``, ``loadExperiment``, ``getConfig``, results, Slurm helpers.

Each behaves as its library's own code does (the code wins where the library's README differs),
except where that library has a plain bug (a crash, a silent override): there the adapter does the
evident thing or raises one clear error, and its docstring says so.
"""
