"""The Slurm backend (:mod:`.backend`), its job scripts (:mod:`.script`), what Slurm says about jobs
(:mod:`.jobs`) and its commands (:mod:`.commands`); docs/slurm.md is the user's side."""

from orchestra.scheduler.backends.slurm.backend import SlurmBackend, SlurmHandle

__all__ = ["SlurmBackend", "SlurmHandle"]
