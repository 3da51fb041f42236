"""``Sweep``: what a user's ``sweep.py`` declares, and the plan of runs it expands into."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from orchestra.errors import PlanError, UserError
from orchestra.pathnames import check_path_component
from orchestra.redact import secret_name, secret_value
from orchestra.runtime.snapshot import SNAPSHOT_MODES as SNAPSHOT_MODES
from orchestra.runtime.snapshot import check_snapshot_settings
from orchestra.space.config import Config
from orchestra.space.params import derive_seed, seeded_draws
from orchestra.space.values import to_json_value
from orchestra.space.variant import Space, Variant, as_space
from orchestra.units import parse_bytes, parse_duration

if TYPE_CHECKING:
    from orchestra.slurm import Slurm

ORDERS = ("sweep", "round_robin")
_MODULE_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")
MIN_LOG = 64 << 10  # below this a bounded output.log would be all marker


@dataclass(frozen=True)
class Resources:
    """What one run needs: CPU slots, whole GPUs, memory on one GPU, a GPU utilisation ceiling."""

    cpus: int = 1
    gpus: int = 0
    gpu_mem: int | None = None
    max_gpu_util: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cpus": self.cpus,
            "gpus": self.gpus,
            "gpu_mem": self.gpu_mem,
            "max_gpu_util": self.max_gpu_util,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Resources:
        return cls(d.get("cpus", 1), d.get("gpus", 0), d.get("gpu_mem"), d.get("max_gpu_util"))


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a variant with a seed, and its run number (``index``).

    A fresh plan numbers runs variant-major, seed-minor; once recorded in ``sweep.json`` a run keeps
    its number for good (seeds or variants added later get new numbers after the last one).
    """

    index: int
    variant: Variant
    seed: int

    @property
    def id(self) -> str:
        return f"{self.variant.name}/{self.seed}"


@dataclass(frozen=True)
class Plan:
    """The expanded sweep: variants (with their Sample draws made), seeds, and the numbered runs."""

    variants: tuple[Variant, ...]
    seeds: tuple[int, ...]
    runs: tuple[RunSpec, ...] = ()

    @classmethod
    def numbered(
        cls,
        variants: Iterable[Variant],
        seeds: Iterable[int],
        recorded: Mapping[tuple[str, int], int] | None = None,
    ) -> Plan:
        """Variants x seeds with run numbers: ``recorded`` ones kept, the others after the largest."""
        variants, seeds = tuple(variants), tuple(seeds)
        recorded = dict(recorded or {})
        taken = set(recorded.values())
        next_index = max(taken, default=-1) + 1
        runs = []
        for v in variants:
            for s in seeds:
                index = recorded.get((v.name, s))
                if index is None:
                    while next_index in taken:
                        next_index += 1
                    index = next_index
                    taken.add(index)
                runs.append(RunSpec(index, v, s))
        return cls(variants, seeds, tuple(sorted(runs, key=lambda r: r.index)))

    def grown(self, variants: Iterable[Variant]) -> tuple[Plan, list[RunSpec]]:
        """This plan with ``variants`` added (each with every seed); returns it and the new runs."""
        new = tuple(variants)
        recorded = {(r.variant.name, r.seed): r.index for r in self.runs}
        plan = Plan.numbered(self.variants + new, self.seeds, recorded)
        names = {v.name for v in new}
        return plan, [r for r in plan.runs if r.variant.name in names]

    def runs_json(self) -> list[list[int]]:
        """``sweep.json``'s ``runs``: ``[variant index, seed, run number]`` for every run."""
        return [[r.variant.index, r.seed, r.index] for r in self.runs]


class Sweep:
    """A sweep: an entry function, a space of configs, seeds, and what each run needs.

    >>> sweep = Sweep(train, Config({"lr": Grid([1e-3, 1e-4])}), seeds=[0, 1, 2], timeout="1h")

    Seeds default to ``[0]``, or to the values of an ExperimentGrid's ``seed`` key.

    ``sample_seed`` seeds the ``Sample`` draws made when the sweep is planned (default: derived
    from the sweep's name), so a dry run shows the draws the run will use. ``max_log`` bounds each
    run's ``output.log`` (default 1 GiB; ``None`` for no bound): past it the orchestrator keeps the
    head and the tail and leaves a line saying what was dropped.

    Each run calls ``entry`` in its own process with what it names among ``config``, ``seed``,
    ``device``, ``logdir``, ``ctx`` (or garage's ``ctxt``) and the top-level config keys.

    ``env`` adds variables to every run's environment: ``{"NAME": "value"}`` sets one;
    ``{"NAME": None}`` (or ``env=["NAME", ...]``) passes ``NAME`` on from the environment of
    ``orchestra up``. A secret (its name or value looks like a credential: see
    :mod:`orchestra.redact`) is never written to disk: ``sweep.json`` records its name only, and
    its value is taken from the environment of ``orchestra up``, every time; give it as
    ``os.environ["NAME"]`` or None, not as a literal in the sweep file (whose text travels in
    ``payload.pkl``). ``up`` stops with one line when such a variable is not set.

    ``preload`` names modules (``["numpy", "gymnasium", "torch"]``) that a zygote process imports
    once per sweep; each run is then forked from it instead of starting a fresh interpreter
    (a warm start: docs/run-directory.md), on the local backend. Where that cannot be safe, and
    on Slurm (one job per run), runs start cold.

    ``step`` names the logged key that is the x axis of every record (``"env_steps"``); without
    it the first recognised step name a record logged is (``orchestra.rundir.steps.STEP_KEYS``).
    ``objective`` and ``mode`` (``"max"`` or ``"min"``) name the metric that tells configs apart:
    the default of ``orchestra results``, ``orchestra plot`` and the dashboard's plot.

    An adaptive sweep searches a :class:`~orchestra.search.Box` with ``search`` (any ask/tell
    object: ``orchestra.search.CMAES``, ``CEM``, ``OptunaSearch``, ``RandomSearch``), telling it
    each candidate's ``objective`` score (``mode`` ``"max"`` or ``"min"``) averaged over its
    seeds, until ``budget`` candidates were proposed (each run once per seed). ``stopper``
    (``orchestra.search.ASHA``, ``MedianStopping``) ends hopeless runs early, in a search or in
    any other sweep. See docs/search.md.
    """

    def __init__(
        self,
        entry: Callable[..., Any],
        space: Space | Mapping[str, Any] | Iterable[Mapping[str, Any]],
        seeds: Iterable[int] | None = None,
        *,
        name: str | None = None,
        cpus: int = 1,
        gpus: int = 0,
        gpu_mem: str | int | None = None,
        max_gpu_util: float | None = None,
        snapshot_mode: str = "last",
        snapshot_gap: int = 1,
        max_retries: int = 0,
        timeout: str | float | None = None,
        max_failures: int | None = None,
        order: str = "sweep",
        env: Mapping[str, str | None] | Iterable[str] | None = None,
        archive_launch_repo: bool = False,
        backend: Slurm | str | None = None,
        preload: Iterable[str] = (),
        sample_seed: int | None = None,
        max_log: str | int | None = "1GiB",
        step: str | None = None,
        objective: str | None = None,
        mode: str | None = None,
        search: Any = None,
        budget: int | None = None,
        stopper: Any = None,
    ) -> None:
        if not callable(entry):
            raise UserError(f"Sweep: the entry must be a function, got {type(entry).__name__}")
        self.entry = entry
        self.step, self.objective, self.mode = _check_objective(step, objective, mode)
        self.search, self.budget, self.stopper = None, None, None
        if search is not None or stopper is not None or budget is not None or _is_box(space):
            from orchestra.search.settings import check_search

            self.search, self.budget, self.stopper = check_search(
                space, search, budget, stopper, self.objective, self.mode
            )
        self.space: Space = cast(Space, space) if self.search is not None else as_space(space)
        space_seeds = getattr(self.space, "seeds", None)
        if seeds is not None and space_seeds is not None:
            raise UserError("Sweep: seeds are given twice, as seeds= and as the space's 'seed' key; keep one")
        self.seeds = _check_seeds(seeds if seeds is not None else space_seeds or (0,))
        self.name = None if name is None else check_path_component(name, "sweep name")
        self.resources = Resources(
            cpus=_check_count(cpus, "cpus", minimum=1),
            gpus=_check_count(gpus, "gpus", minimum=0),
            gpu_mem=parse_bytes(gpu_mem, "Sweep gpu_mem"),
            max_gpu_util=_check_util(max_gpu_util),
        )
        check_snapshot_settings(snapshot_mode, snapshot_gap)
        self.snapshot_mode = snapshot_mode
        self.snapshot_gap = snapshot_gap
        self.max_retries = _check_count(max_retries, "max_retries", minimum=0)
        self.timeout = parse_duration(timeout, "Sweep timeout")
        self.max_failures = (
            None if max_failures is None else _check_count(max_failures, "max_failures", minimum=1)
        )
        if order not in ORDERS:
            raise UserError(f"Sweep order {order!r} is not one of {', '.join(ORDERS)}")
        self.order = order
        self.env, self.env_from_launch, self._env_problem = _resolve_env(env)
        self.archive_launch_repo = bool(archive_launch_repo)
        self.backend = _check_backend(backend)
        self.preload = _check_preload(preload)
        if sample_seed is not None and (isinstance(sample_seed, bool) or not isinstance(sample_seed, int)):
            raise UserError(f"Sweep sample_seed must be an integer, got {sample_seed!r}")
        self.sample_seed = sample_seed
        self.max_log = parse_bytes(max_log, "Sweep max_log")
        if self.max_log is not None and self.max_log < MIN_LOG:
            raise UserError(f"Sweep max_log must be at least 64KiB (or None for no bound), got {max_log!r}")

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Sweep:
        """The sweep a ``sweep.json`` recorded, to run it again without its file (``orchestra up DIR``).

        Its entry is a stand-in: the runs load the recorded ``payload.pkl``, never this object's entry.
        Its space lists the recorded variants, Sample draws and a search's proposals included.
        """
        import inspect

        settings = dict(record.get("settings") or {})
        resources = settings.pop("resources", {}) or {}
        accepted = inspect.signature(cls.__init__).parameters
        # A search is an object the sweep file makes: its recorded proposals run, it proposes no more.
        search = settings.pop("search", None)
        settings.pop("budget", None)
        stopper = settings.pop("stopper", None) or (search or {}).get("stopper")
        options = {k: v for k, v in settings.items() if k in accepted}
        if stopper:
            from orchestra.search.stoppers import stopper_from_json

            options["stopper"] = stopper_from_json(stopper)
        # secrets were recorded by name only: their values come from this up's environment again
        options["env"] = {
            **(settings.get("env") or {}),
            **dict.fromkeys(settings.get("env_from_launch") or ()),
        }
        sweep = cls(
            _recorded_entry,
            _RecordedSpace(record),
            list(record.get("seeds") or [0]),
            name=record.get("name"),
            **{k: v for k, v in resources.items() if v is not None},
            **options,
        )
        sweep.check_env()  # before anything is written, as reconcile checks a sweep file's
        return sweep

    def plan(
        self, name: str | None = None, *, space: Space | None = None, seeds: tuple[int, ...] | None = None
    ) -> Plan:
        """Expand the space (drawing Samples now, seeded by :meth:`draw_seed`) into variants x seeds.

        ``space`` and ``seeds`` replace the sweep's own (the command line's overrides). A search's
        plan starts empty: the search proposes its variants while the sweep runs.
        """
        if self.search is not None:
            return Plan.numbered((), self.seeds if seeds is None else seeds)
        space = self.space if space is None else space
        seed = self.draw_seed(name)
        with seeded_draws(seed):
            variants = space.variants(sample_seed=seed) if isinstance(space, Config) else space.variants()
        return Plan.numbered(variants, self.seeds if seeds is None else seeds)

    def draw_seed(self, name: str | None = None) -> int:
        """The seed of the Sample draws: ``sample_seed``, else one derived from the sweep's name."""
        if self.sample_seed is not None:
            return self.sample_seed
        return derive_seed("sample_seed", name or self.name or "")

    def settings(self) -> dict[str, Any]:
        """The sweep's options as JSON data, as recorded in ``sweep.json``."""
        return {
            "resources": self.resources.to_json(),
            "snapshot_mode": self.snapshot_mode,
            "snapshot_gap": self.snapshot_gap,
            "max_retries": self.max_retries,
            "timeout": self.timeout,
            "max_failures": self.max_failures,
            "order": self.order,
            "env": {k: v for k, v in self.env.items() if k not in self.env_from_launch},
            "env_from_launch": list(self.env_from_launch),
            "archive_launch_repo": self.archive_launch_repo,
            **({"backend": {"slurm": self.backend.to_json()}} if self.backend is not None else {}),
            "preload": list(self.preload),
            "max_log": self.max_log,
            "step": self.step,
            "objective": self.objective,
            "mode": self.mode,
            **self.search_settings(),
        }

    def search_settings(self) -> dict[str, Any]:
        """What a search sweep records of its search, stopper and budget (none for a plain sweep).

        ``search`` holds what must not change while the sweep lives (the space, the search and its
        options, the objective, the seeds, the stopper); ``budget`` may grow.
        """
        if self.search is None:
            return {"stopper": self.stopper.describe()} if self.stopper is not None else {}
        from orchestra.search.base import describe

        return {
            "search": {
                "search": describe(self.search),
                "space": cast(Any, self.space).to_json(),
                "objective": self.objective,
                "mode": self.mode,
                "seeds": list(self.seeds),
                "stopper": self.stopper.describe() if self.stopper is not None else None,
            },
            "budget": self.budget,
        }

    def check_env(self) -> None:
        """Raise PlanError when an ``env`` entry cannot be given to the runs (checked before launch)."""
        if self._env_problem is not None:
            raise PlanError(self._env_problem)

    def run_options(self) -> dict[str, Any]:
        """What the run's own process needs to know, written into each ``config.json``."""
        return {"snapshot_mode": self.snapshot_mode, "snapshot_gap": self.snapshot_gap, "step": self.step}

    def __repr__(self) -> str:
        entry = getattr(self.entry, "__qualname__", repr(self.entry))
        return f"Sweep({entry}, seeds={list(self.seeds)})"


def _check_seeds(seeds: Iterable[int]) -> tuple[int, ...]:
    if isinstance(seeds, int):
        seeds = [seeds]
    try:
        out = tuple(seeds)
    except TypeError:
        raise UserError(f"Sweep seeds must be a list of integers, got {type(seeds).__name__}") from None
    if not out:
        raise UserError("Sweep seeds is empty; give at least one seed, e.g. seeds=[0]")
    for s in out:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise UserError(f"Sweep seeds must be non-negative integers, got {s!r}")
        to_json_value(s, "seeds")
    dupes = sorted({s for s in out if out.count(s) > 1})
    if dupes:
        raise UserError(f"Sweep seed {dupes[0]} is listed twice")
    return out


def _is_box(space: Any) -> bool:
    return type(space).__name__ == "Box" and type(space).__module__ == "orchestra.search.box"


def _check_objective(step: Any, objective: Any, mode: Any) -> tuple[str | None, str | None, str | None]:
    for what, value in (("step", step), ("objective", objective)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise UserError(f"Sweep {what} must be the name of a logged key, e.g. 'env_steps', got {value!r}")
    if objective is None:
        if mode is not None:
            raise UserError(
                f"Sweep mode={mode!r} needs an objective: Sweep(objective='return', mode={mode!r})"
            )
        return step, None, None
    if mode not in ("max", "min"):
        raise UserError(
            f"Sweep objective {objective!r} needs mode='max' or mode='min' (whether bigger is better), got {mode!r}"
        )
    if objective == step:
        raise UserError(f"Sweep objective {objective!r} is the step; name the metric to compare instead")
    return step, objective, mode


def _check_count(value: Any, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"Sweep {what} must be an integer >= {minimum}, got {value!r}")
    return value


def _check_backend(value: Any) -> Slurm | None:
    """``Slurm(...)`` (or ``"slurm"``: Slurm's defaults) runs on a cluster; None or ``"local"`` here."""
    if value is None or value == "local":
        return None
    from orchestra.slurm import Slurm

    if value == "slurm":
        return Slurm()
    if isinstance(value, Slurm):
        return value
    if isinstance(value, Mapping) and set(value) == {"slurm"}:  # as settings() records it
        return Slurm.from_json(value["slurm"])
    raise UserError(f"Sweep backend must be Slurm(...) or 'local', got {value!r}")


def _check_util(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise UserError(f"Sweep max_gpu_util must be a percentage in (0, 100], got {value!r}")
    return float(value)


def _resolve_env(
    env: Mapping[str, str | None] | Iterable[str] | None,
) -> tuple[dict[str, str], tuple[str, ...], str | None]:
    """``(values for the runs, names taken from the launching environment, first problem or None)``."""
    if env is None:
        return {}, (), None
    if isinstance(env, str):
        raise UserError(f"Sweep env must be a dict or a list of names, got the string {env!r}")
    items = list(env.items()) if isinstance(env, Mapping) else [(name, None) for name in env]
    values: dict[str, str] = {}
    from_launch: list[str] = []
    problem: str | None = None
    for name, value in items:
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            raise UserError(f"Sweep env: {name!r} is not an environment variable name")
        launching = os.environ.get(name)
        text = None if value is None else str(value)
        if text is not None and text != launching and (secret_name(name) or secret_value(text)):
            problem = problem or (
                f"Sweep env {name!r} looks like a secret, and orchestra never writes secrets to disk: export "
                f"{name} in the environment of `orchestra up` and write env={{{name!r}: None}} (or "
                f"os.environ[{name!r}]) in the sweep file instead of its value"
            )
            continue
        if text is None or secret_name(name) or secret_value(text):
            from_launch.append(name)
            if launching is None:
                problem = problem or (
                    f"Sweep env {name!r} is taken from the environment of `orchestra up`, where it is not set; "
                    f"export {name} first (orchestra passes it to the runs and never writes it to disk)"
                )
                continue
            text = launching
        values[name] = text
    return values, tuple(from_launch), problem


def _check_preload(preload: Iterable[str]) -> tuple[str, ...]:
    if isinstance(preload, str):
        preload = [preload]
    out = tuple(preload)
    for name in out:
        if not isinstance(name, str) or not _MODULE_NAME.fullmatch(name):
            raise UserError(f"Sweep preload: {name!r} is not a module name (e.g. 'numpy' or 'torch.nn')")
    dupes = sorted({n for n in out if out.count(n) > 1})
    if dupes:
        raise UserError(f"Sweep preload lists {dupes[0]!r} twice")
    import importlib.util

    for name in out:
        top = name.split(".")[0]
        if importlib.util.find_spec(top) is None:  # finds, does not import
            raise UserError(
                f"Sweep preload {name!r}: no module {top!r} is installed; fix the name or install it"
            )
    return out


def _recorded_entry(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("a recorded sweep's entry lives in its payload.pkl; this stand-in is never called")


class _RecordedSpace:
    """The variants a ``sweep.json`` recorded, as a space."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self._variants = [Variant.from_json(d) for d in record.get("variants") or ()]

    def variants(self) -> list[Variant]:
        return list(self._variants)
