"""lagom's ``lagom.experiment``: ``Config``, ``Grid``, ``Sample``, ``Condition`` and ``run_experiment``.

``Grid``, ``Sample`` and ``Condition`` are orchestra's own classes; ``Config`` is orchestra's with
lagom's check that ``items`` is a dict. ``make_configs()`` gives lagom's list of dicts: ``'ID'``
first, the last Grid key varying fastest, the whole grid repeated ``num_sample`` times with fresh
draws (``num_sample`` becomes 1 without a Sample), Conditions resolved last in key order.

:func:`run_experiment` runs ``run(config, seed, device, logdir)`` for every config and seed on
orchestra's scheduler; see its docstring. Every difference from lagom is listed in docs/compat.md.
"""

from __future__ import annotations

import inspect
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestra.errors import CompatAssertionError, ConfigValueError, UserError
from orchestra.runtime.logger import Logger as Logger
from orchestra.space import params as _params
from orchestra.space.config import Config as _Config
from orchestra.space.params import Grid as Grid

__all__ = ["Condition", "Config", "Grid", "Logger", "RunExperimentError", "Sample", "run_experiment"]

RETURN_PKL = "return.pkl"  # a job's return value, beside its result.json


class Sample(_params.Sample):
    """lagom's ``Sample(f)``: ``f()`` is drawn once per config; a non-callable is an AssertionError."""

    def __init__(self, f: Callable[[], Any]) -> None:
        if not callable(f):
            raise CompatAssertionError(f"Sample needs a function of no arguments, got {type(f).__name__}")
        super().__init__(f)


class Condition(_params.Condition):
    """lagom's ``Condition(f)``: ``f(config)`` computes a value from the other values; ``assert callable(f)``."""

    def __init__(self, f: Callable[[dict[str, Any]], Any]) -> None:
        if not callable(f):
            raise CompatAssertionError(f"Condition needs a function of the config, got {type(f).__name__}")
        super().__init__(f)


class Config(_Config):
    """lagom's ``Config(items, num_sample=1, keep_dict_order=False)``; ``items`` must be a dict.

    >>> Config({"lr": Grid([0.1, 0.01]), "env": Grid(["a", "b"])}).make_configs()[1]
    {'ID': 1, 'lr': 0.1, 'env': 'b'}
    """

    def __init__(self, items: dict[Any, Any], num_sample: int = 1, keep_dict_order: bool = False) -> None:
        if not isinstance(items, dict):
            raise CompatAssertionError(f"Config needs a dict of config items, got {type(items).__name__}")
        super().__init__(items, num_sample=num_sample, keep_dict_order=keep_dict_order)


class RunExperimentError(UserError, ValueError, TypeError):
    """``run_experiment`` was called with arguments it cannot run (a ``ValueError``/``TypeError`` as in lagom)."""


class JobsFailedError(UserError, RuntimeError):
    """Some jobs of a ``run_experiment`` call failed; the others finished.

    ``failed`` lists ``(job_id, ID, seed, why, run_dir)`` of each failed job; ``results`` is the list
    of return values in job order, with None where a job failed.
    """

    def __init__(
        self, message: str, failed: list[tuple[int, int, int, str, Path]], results: list[Any]
    ) -> None:
        super().__init__(message)
        self.failed = failed
        self.results = results


def run_experiment(
    run: Callable[..., Any],
    config: _Config,
    seeds: Sequence[int],
    log_dir: str | os.PathLike[str],
    max_workers: int | None,
    chunksize: int = 1,
    use_gpu: bool = False,
    gpu_ids: Sequence[int] | None = None,
    *,
    gpu_mem: str | int | None = None,
) -> list[Any]:
    """Run ``run(config, seed, device, logdir)`` for every config of ``config`` and every seed.

    Jobs are config-major and seed-minor (job ``ID * len(seeds) + i`` is config ``ID`` with
    ``seeds[i]``); the return value is the list of what ``run`` returned, in job order. ``logdir`` is
    ``Path(log_dir) / str(ID) / str(seed)``; ``config`` is the config dict (with its ``'ID'``);
    ``device`` is a ``torch.device`` when torch is installed, else the string ``'cpu'`` or ``'cuda:0'``.

    ``log_dir`` gets lagom's files (``configs.pkl``, ``source_files/``, ``<ID>/config.yml``,
    ``<ID>/<seed>/``) and is also an orchestra sweep directory: ``orchestra status``, ``results``
    and ``plot`` work on it, and every ``Logger`` dump inside a job is a metrics record.

    Every job runs in a process of its own, at most ``max_workers`` at once (``None`` or ``-1``: one
    at a time). With ``use_gpu=True`` each job gets a GPU chosen by live memory readings (restricted
    to ``gpu_ids`` if given): a whole GPU each, or ``gpu_mem`` bytes (e.g. ``"6GiB"``) on a shared
    one. ``chunksize`` is accepted for lagom's signature and has no effect.

    When some jobs fail, the others still finish, and then :class:`JobsFailedError` names the failed
    ones. Calling again with the same ``log_dir`` resumes: finished jobs keep their results (their
    return values are read back) and the others run again. Ctrl-C stops the jobs; call again to resume.
    """
    started = time.perf_counter()
    workers = _check_arguments(run, config, seeds, max_workers, chunksize, gpu_ids)
    seeds = list(seeds)
    log_path = Path(log_dir)
    absolute = log_path.absolute()
    configs = _configs_for(config, absolute)
    plan = _Plan(run, configs, seeds, log_path, absolute, config)
    sweep = plan.sweep(use_gpu, gpu_mem)
    ledger = _gpu_ledger(gpu_ids) if use_gpu else None
    if ledger is not None:
        problem = ledger.feasible(sweep.resources)
        if problem:
            raise RunExperimentError(f"run_experiment(use_gpu=True): each job {problem}")
    summary = _run_sweep(plan, sweep, workers, ledger)
    results, failed = plan.collect()
    if summary.interrupted and not summary.stopped_by_failures:
        print(
            f"run_experiment: interrupted; call it again with log_dir={str(log_path)!r} to resume", flush=True
        )
        raise KeyboardInterrupt
    elapsed = time.perf_counter() - started
    print(f"\nExperiment finished. Loggings are stored in {absolute}. ({elapsed:.2f} s)", flush=True)
    if failed:
        first = failed[0]
        raise JobsFailedError(
            f"run_experiment: {len(failed)} of {len(results)} jobs failed: "
            + "; ".join(f"job {j} (ID {i}, seed {s}): {why}" for j, i, s, why, _ in failed[:5])
            + ("; ..." if len(failed) > 5 else "")
            + f"; see {first[4] / 'output.log'}; call again with the same log_dir to run them again",
            failed,
            results,
        )
    return results


def _check_arguments(
    run: Any, config: Any, seeds: Any, max_workers: Any, chunksize: Any, gpu_ids: Any
) -> int:
    """lagom's preconditions, as one-line errors; returns the number of jobs that may run at once."""
    if not callable(run):
        raise RunExperimentError(
            f"run_experiment: run must be a function run(config, seed, device, logdir), got {run!r}"
        )
    if not isinstance(config, _Config):
        raise RunExperimentError(
            f"run_experiment: config must be a Config (orchestra.compat.lagom.Config), got {type(config).__name__}"
        )
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence) or not seeds:
        raise RunExperimentError(f"run_experiment: seeds must be a non-empty list of integers, got {seeds!r}")
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise RunExperimentError(f"run_experiment: seeds must be non-negative integers, got {s!r}")
    if len(set(seeds)) != len(seeds):
        raise RunExperimentError(
            f"run_experiment: seeds {list(seeds)} list a seed twice; each seed is a directory"
        )
    if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
        raise RunExperimentError(f"run_experiment: chunksize must be >= 1, got {chunksize!r}")
    if gpu_ids is not None and (
        isinstance(gpu_ids, (str, bytes))
        or not isinstance(gpu_ids, Sequence)
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in gpu_ids)
    ):
        raise CompatAssertionError(
            f"run_experiment: gpu_ids must be a list of GPU indices >= 0, got {gpu_ids!r}"
        )
    if max_workers is None or max_workers == -1:
        return 1
    if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
        raise RunExperimentError(
            f"run_experiment: max_workers must be a positive integer (or None/-1 to run jobs one at a time), got {max_workers!r}"
        )
    return max_workers


def _configs_for(config: _Config, log_dir: Path) -> list[dict[str, Any]]:
    """The configs to run: fresh ones, or those recorded in ``log_dir`` when it is resumed.

    A resumed ``log_dir`` keeps its recorded configs (and so its Sample draws) as long as the
    rest of the config is the same; anything else in ``log_dir`` is refused rather than mixed.
    """
    from orchestra.compat.lagom.utils import pickle_load
    from orchestra.rundir import SWEEP_JSON

    configs = config.make_configs()
    if not configs:
        raise RunExperimentError(
            "run_experiment: the config makes no configs (an empty Grid); nothing to run"
        )
    if not log_dir.exists():
        return configs
    if not log_dir.is_dir():
        raise RunExperimentError(f"run_experiment: log_dir {log_dir} is a file; give a directory")
    if not (log_dir / SWEEP_JSON).is_file():
        if any(log_dir.iterdir()):
            raise RunExperimentError(
                f"run_experiment: log_dir {log_dir} exists and is not a run_experiment directory (no {SWEEP_JSON}); "
                "remove it or give another log_dir"
            )
        return configs
    try:
        recorded = pickle_load(log_dir / "configs.pkl")
    except Exception as exc:
        raise RunExperimentError(
            f"run_experiment: cannot resume {log_dir}: its configs.pkl cannot be read ({type(exc).__name__}: {exc}); "
            "give another log_dir"
        ) from None
    sampled = set(config.keys_sample)
    if not (
        isinstance(recorded, list)
        and len(recorded) == len(configs)
        and all(_masked(a, sampled) == _masked(b, sampled) for a, b in zip(recorded, configs))
    ):
        raise RunExperimentError(
            f"run_experiment: log_dir {log_dir} holds an experiment with other configs; "
            "give a new log_dir, or remove this one to start again"
        )
    return recorded


def _masked(config: Any, sampled: set[str]) -> Any:
    if not isinstance(config, dict):
        return config
    return {k: _value_text(v) for k, v in config.items() if k not in sampled}


def _value_text(value: Any) -> Any:
    """A config value as JSON data; what JSON cannot hold becomes a stable text (the name of a
    function or class, else its repr without memory addresses)."""
    from orchestra.space.values import to_json_value

    try:
        return to_json_value(value)
    except ConfigValueError:
        pass
    if isinstance(value, dict):
        return {str(k): _value_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_value_text(v) for v in value]
    name = getattr(value, "__qualname__", None)
    if name is not None:
        return f"{getattr(value, '__module__', '?')}.{name}"
    text = repr(value)
    return f"<{type(value).__module__}.{type(value).__qualname__}>" if " at 0x" in text else text


class _Space:
    """The variants of a run_experiment call: one per config, its params the config (``ID`` included)."""

    def __init__(self, configs: list[dict[str, Any]], config: _Config) -> None:
        from orchestra.space.naming import params_name
        from orchestra.space.variant import Draft, finalize

        shown: list[str] = []
        for key in config.keys_grid:
            shown.extend(key if isinstance(key, tuple) else (key,))
        shown.extend(config.keys_sample)
        sampled = tuple(config.keys_sample)
        drafts = []
        for c in configs:
            params = _value_text(dict(c))
            drafts.append(Draft(params, params_name(params, shown) or f"ID={c['ID']}", sampled))
        self._variants = finalize(drafts)

    def variants(self) -> list[Any]:
        return list(self._variants)


@dataclass
class _Job:
    """What each job's process calls: lagom's ``run(config, seed, device, logdir)``."""

    run: Callable[..., Any]
    configs: list[dict[str, Any]]
    seeds: list[int]
    log_dir: Path
    use_gpu: bool

    def __call__(self, config: dict[str, Any], seed: int, device: Any, ctx: Any) -> Any:
        import cloudpickle

        from orchestra.atomic import write_bytes

        ID = config["ID"]
        lagom_config = self.configs[ID]
        job_id = ID * len(self.seeds) + self.seeds.index(seed)
        n_jobs = len(self.configs) * len(self.seeds)
        print(
            f"@ Experiment: ID: {ID} ({len(self.configs)}), Seed: {seed}, Device: {device}, "
            f"Job: {job_id} ({n_jobs}), PID: {os.getpid()}"
        )
        print("#" * 50)
        for key, value in lagom_config.items():
            print(f"# {key}: {value}")
        print("#" * 50, flush=True)
        result = self.run(lagom_config, seed, device, self.log_dir / str(ID) / str(seed))
        try:
            data = cloudpickle.dumps(result)
        except Exception as exc:
            raise TypeError(
                f"run_experiment: run returned a {type(result).__name__} that cannot be pickled "
                f"({type(exc).__name__}: {exc}); return plain data and save the rest into logdir"
            ) from exc
        write_bytes(Path(ctx.logdir) / RETURN_PKL, data)
        torch = sys.modules.get("torch")
        if self.use_gpu and torch is not None:
            torch.cuda.empty_cache()
        return result


class _Plan:
    """One run_experiment call: its jobs, its sweep, lagom's files and the results read back."""

    def __init__(
        self,
        run: Callable[..., Any],
        configs: list[dict[str, Any]],
        seeds: list[int],
        log_path: Path,
        absolute: Path,
        config: _Config,
    ) -> None:
        self.run = run
        self.configs = configs
        self.seeds = seeds
        self.log_path = log_path
        self.dir = absolute
        self.space = _Space(configs, config)
        self.launcher = _launcher(run)
        self.rec: Any = None

    def sweep(self, use_gpu: bool, gpu_mem: str | int | None) -> Any:
        from orchestra.sweep import Sweep

        job = _Job(self.run, self.configs, self.seeds, self.log_path, bool(use_gpu))
        if gpu_mem is not None and not use_gpu:
            raise RunExperimentError(
                "run_experiment: gpu_mem is the GPU memory of each job; it needs use_gpu=True"
            )
        gpus = 1 if use_gpu and gpu_mem is None else 0
        return Sweep(
            job, self.space, self.seeds, name=self.dir.name, gpus=gpus, gpu_mem=gpu_mem if use_gpu else None
        )

    def write_lagom_files(self, fresh: bool) -> None:
        """configs.pkl, source_files/, <ID>/config.yml and <ID>/<seed> (a link to the job's run directory)."""
        from orchestra.compat.lagom.utils import pickle_dump, yaml_dump

        if fresh or not (self.dir / "configs.pkl").exists():
            pickle_dump(self.configs, self.dir / "configs", ext=".pkl")
            sources = self.dir / "source_files"
            sources.mkdir(exist_ok=True)
            if self.launcher is not None:
                for s in self.launcher.parent.glob("*.py"):
                    shutil.copyfile(s, sources / s.name)
        by_id = {v.params["ID"]: v.name for v in self.space.variants()}
        for c in self.configs:
            ID = c["ID"]
            config_dir = self.dir / str(ID)
            config_dir.mkdir(exist_ok=True)
            if not (config_dir / "config.yml").exists():
                yaml_dump(dict(c), config_dir / "config", ext=".yml")
            for seed in self.seeds:
                self.rec.sweep_dir.run(by_id[ID], seed).path.mkdir(parents=True, exist_ok=True)
                link = config_dir / str(seed)
                target = os.path.join("..", "runs", by_id[ID], str(seed))
                if not link.is_symlink() and not link.exists():
                    link.symlink_to(target, target_is_directory=True)

    def collect(self) -> tuple[list[Any], list[tuple[int, int, int, str, Path]]]:
        """The return values in job order, and the jobs that did not complete."""
        from orchestra.compat.lagom.utils import pickle_load
        from orchestra.rundir import State

        results: list[Any] = []
        failed: list[tuple[int, int, int, str, Path]] = []
        for r in sorted(self.rec.runs, key=lambda r: r.spec.index):
            status = r.dir.read_status()
            ID = r.spec.variant.params["ID"]
            if status is not None and status.state is State.COMPLETED:
                path = r.dir.path / RETURN_PKL
                results.append(pickle_load(path) if path.exists() else None)
                continue
            results.append(None)
            why = "did not run"
            if status is not None:
                why = status.state.value
                if status.exit is not None:
                    why = status.exit.describe() or why
            failed.append((r.spec.index, ID, r.spec.seed, why, self.dir / str(ID) / str(r.spec.seed)))
        return results, failed


def _launcher(run: Callable[..., Any]) -> Path | None:
    """The file that defines ``run`` (lagom copies its directory's sources), if it has one."""
    try:
        source = inspect.getsourcefile(run) or inspect.getsourcefile(type(run))
    except TypeError:
        return None
    return Path(source).resolve() if source and os.path.isfile(source) else None


def _gpu_ledger(gpu_ids: Sequence[int] | None) -> Any:
    from orchestra.scheduler.gpu import GpuLedger

    return GpuLedger(
        _gpu_probe(), allowed=None if gpu_ids is None else frozenset(gpu_ids), headroom=512 << 20
    )


def _gpu_probe() -> Any:
    """The GPU readings: NVML (tests replace this with a fake probe)."""
    from orchestra.scheduler.probe import make_probe

    return make_probe("auto")


def _run_sweep(plan: _Plan, sweep: Any, workers: int, ledger: Any) -> Any:
    """Prepare ``plan``'s sweep directory and run it to the end with headless progress (orchestra's session)."""
    import anyio

    from orchestra.plan.loader import LoadedSweep
    from orchestra.rundir import SweepDir
    from orchestra.scheduler.backends.local import LocalBackend
    from orchestra.service.session import UpOptions, prepare

    module = sys.modules.get(getattr(plan.run, "__module__", "") or "")
    launcher = plan.launcher or Path.cwd() / "<run_experiment>"
    by_value = module is not None and module.__name__ == "__main__"
    loaded = LoadedSweep(
        sweep, launcher, module or sys.modules[__name__], "run_experiment", by_value=by_value
    )
    fresh = not SweepDir(plan.dir).exists()
    options = UpOptions(
        root=plan.dir.parent, name=plan.dir.name, workers=workers, retry_failed=True, cwd=Path.cwd()
    )
    prepared = prepare(loaded, options, backend=LocalBackend(workers, ledger))
    return anyio.run(_run_session, plan, prepared, fresh)


async def _run_session(plan: _Plan, prepared: Any, fresh: bool) -> Any:
    from orchestra.headless import show, stop_on_signals
    from orchestra.present import summary_line
    from orchestra.service.session import open_session

    async with open_session(prepared) as session:
        rec = session.rec
        plan.rec = rec
        plan.write_lagom_files(fresh)
        if not fresh:
            kept = sum(1 for r in rec.runs if not r.start and not r.orphaned)
            print(
                f"run_experiment: {plan.dir} exists: resuming it ({kept} of {len(rec.runs)} jobs finished and kept, "
                f"{len(rec.runs) - kept} to run)",
                flush=True,
            )
        for note in session.notes:
            print(f"run_experiment: {note}", flush=True)
        if session.scheduler.idle:
            return _Done()
        frontends = [
            lambda s: show(s, tty=sys.stdout.isatty() or None, workers=prepared.options.workers or 1)
        ]
        if threading.current_thread() is threading.main_thread():
            frontends.append(stop_on_signals)
        begun = time.time()
        summary = await session.run(frontends)
        print(summary_line(session.scheduler.snapshot(), time.time() - begun), flush=True)
        return summary


@dataclass
class _Done:
    """The summary of a call with nothing left to run."""

    interrupted: bool = False
    stopped_by_failures: bool = False
