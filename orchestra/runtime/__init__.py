"""Code that runs inside a run's process. Kept lean: it is imported once per run."""
