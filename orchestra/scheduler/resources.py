"""CPU slots: ``--workers K`` slots, each run takes ``cpus`` of them."""

from __future__ import annotations

import os

from orchestra.errors import PlanError


class CpuSlots:
    def __init__(self, total: int) -> None:
        if total < 1:
            raise PlanError(f"--workers must be at least 1, got {total}")
        self.total = total
        self.used = 0

    def fits(self, cpus: int) -> bool:
        return self.used + cpus <= self.total

    def take(self, cpus: int) -> None:
        assert self.fits(cpus), "placement took more CPU slots than are free"
        self.used += cpus

    def give(self, cpus: int) -> None:
        self.used = max(0, self.used - cpus)

    def feasible(self, cpus: int) -> str | None:
        if cpus > self.total:
            return f"each run asks for {cpus} CPU slots but --workers is {self.total}; raise --workers or lower cpus"
        return None

    def threads_per_run(self, cpus: int) -> int:
        """Threads a run may use so that all slots together fill the machine's cores, not more."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(1, cores * cpus // self.total)


def default_workers() -> int:
    """One slot per available core."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
