"""The search driver: a sweep's search and stopper, beside its scheduler in the orchestrator.

:class:`SearchDriver` is built by :func:`orchestra.service.session.open_session` when the sweep has
a search or a stopper. It proposes candidates (each a variant run once per seed, added to the live
sweep by :meth:`Session.grow`, the plan's single writer), tells the search how each did when all
its runs finished, and feeds the stopper every metrics record of running runs.

**Generational** searches (a ``popsize``: CMA-ES, CEM) are asked for a whole population, which is
told at once when every candidate of it finished. **Asynchronous** ones (Optuna, random) keep
``max_concurrent`` candidates in flight (default: as many as the CPU slots run at once, a
candidate taking a slot per seed): each result is told as it arrives and a new candidate asked.

**What a candidate is told** is the objective's score (what ``orchestra results`` ranks by)
averaged over its seeds, read from the run files; a candidate with no score (every seed failed
before logging it) is told ``nan``. A run that was stopped early counts with its score as it
stood; a failed run counts once its retries are spent.

**Saved state** (``search.json`` in the sweep's directory, written atomically, only by the
orchestrator): the search's ``state()``, the candidates asked and not yet told (with their
configs) and those told (with their values). Every proposal is written there before it is added
to ``sweep.json``, and every tell after the search took it; so after a ``kill -9`` the next ``up``
restores the search, adds any proposal that did not reach ``sweep.json``, tells what finished
meanwhile (read from the run files), and goes on: no candidate is proposed, run or told twice.
"""

from __future__ import annotations

import base64
import heapq
import math
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestra.errors import UserError
from orchestra.rundir import FORMAT, State, read_json_or_none, read_jsonl, write_json
from orchestra.scheduler.core import Scheduler
from orchestra.search.base import SEARCH_JSON, SearchError, popsize_of
from orchestra.space.naming import bound, params_name, sanitize
from orchestra.space.values import content_hash, to_json_value
from orchestra.space.variant import Variant

if TYPE_CHECKING:
    from orchestra.service.session import Session

FINAL = frozenset({State.COMPLETED, State.STOPPED, State.FAILED, State.CANCELLED})
DEFAULT_CONCURRENCY = 8  # candidates in flight on a backend that has no slot count (a cluster)


@dataclass
class Candidate:
    """A config the search proposed: its variant name, trial number, generation and, once told, value."""

    name: str
    trial: int
    config: dict[str, Any]
    generation: int | None = None
    value: float | None = None

    def labels(self) -> dict[str, Any]:
        out: dict[str, Any] = {"trial": self.trial}
        if self.generation is not None:
            out["generation"] = self.generation
        if self.value is not None and math.isfinite(self.value):
            out["score"] = self.value
        return out

    def to_json(self) -> dict[str, Any]:
        value = self.value if self.value is not None and math.isfinite(self.value) else None
        return {
            "name": self.name,
            "trial": self.trial,
            "generation": self.generation,
            "config": self.config,
            "value": value,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Candidate:
        value = d.get("value")
        return cls(
            d["name"],
            d["trial"],
            dict(d["config"]),
            d.get("generation"),
            math.nan if value is None else value,
        )


@dataclass
class _Saved:
    state: Any = None
    asked: int = 0
    generations: int = 0
    pending: list[Candidate] = field(default_factory=list)
    told: list[Candidate] = field(default_factory=list)


class SearchDriver:
    """Drives one session's search and stopper; see the module docstring."""

    def __init__(self, session: Session) -> None:
        sweep = session.prepared.sweep
        self.session = session
        self.sched: Scheduler = session.scheduler
        self.sweep_dir = session.sweep_dir
        self.label = session.prepared.loaded.path.name
        self.search: Any = sweep.search
        self.stopper: Any = sweep.stopper
        self.objective, self.mode = sweep.objective, sweep.mode
        self.budget = sweep.budget or 0
        self.seeds = list(session.rec.plan.seeds)
        self.popsize = popsize_of(self.search)
        self.pending: list[Candidate] = []
        self.told: list[Candidate] = []
        self.asked = 0
        self.generations = 0
        self.by_run: dict[str, Candidate] = {}
        self._holding = False
        self._objective_seen = False
        self._metric_seen = False
        self._stopped: set[str] = set()
        self._events = self.sched.events()
        if self.stopper is not None:
            self._replay()
            self.sched.metric_listeners.append(self._on_metrics)
        if self.search is not None:
            self._start()
        self.sched.helpers.append(self.run)

    # ------------------------------------------------------------------ the search

    @property
    def state_path(self) -> Any:
        return self.sweep_dir.path / SEARCH_JSON

    def _start(self) -> None:
        setup = getattr(self.search, "setup", None)
        if callable(setup):
            setup(self.sweep_space(), self.mode)
        saved = self._load()
        if saved is not None:
            self.search.restore(saved.state)
            self.asked, self.generations = saved.asked, saved.generations
            self.pending, self.told = saved.pending, saved.told
            self._objective_seen = any(c.value is not None and math.isfinite(c.value) for c in self.told)
            planned = {v.name for v in self.session.rec.plan.variants}
            lost = [c for c in self.pending if c.name not in planned]
            if lost:  # saved, then the orchestrator died before sweep.json had them
                self._grow(lost)
            for c in [*self.told, *self.pending]:
                self._index(c)
                if c.value is not None and c.name in planned:
                    for rid in self._runs(c):
                        self.sched.set_labels(rid, c.labels())
        self._advance()

    def sweep_space(self) -> Any:
        return self.session.prepared.sweep.space

    def _load(self) -> _Saved | None:
        data = read_json_or_none(self.state_path)
        if not isinstance(data, dict):
            return None
        try:
            return _Saved(
                pickle.loads(base64.b64decode(data["state"])),
                int(data["asked"]),
                int(data["generations"]),
                [Candidate.from_json(d) for d in data["pending"]],
                [Candidate.from_json(d) for d in data["told"]],
            )
        except (KeyError, TypeError, ValueError, pickle.UnpicklingError) as exc:
            raise SearchError(
                f"{self.state_path}: the saved search state is unreadable ({type(exc).__name__}: {exc}); "
                "start a new sweep with --name NEW"
            ) from None

    def _save(self) -> None:
        write_json(
            self.state_path,
            {
                "format": FORMAT,
                "asked": self.asked,
                "generations": self.generations,
                "pending": [c.to_json() for c in self.pending],
                "told": [c.to_json() for c in self.told],
                "state": base64.b64encode(pickle.dumps(self.search.state())).decode(),
            },
        )

    def _runs(self, c: Candidate) -> list[str]:
        return [f"{c.name}/{seed}" for seed in self.seeds]

    def _index(self, c: Candidate) -> None:
        for rid in self._runs(c):
            self.by_run[rid] = c

    def _final(self, c: Candidate) -> bool:
        return all(self.sched.row(rid).state in FINAL for rid in self._runs(c))

    @property
    def _can_ask(self) -> bool:
        if self.asked >= self.budget or self.sched.error is not None:
            return False
        done = getattr(self.search, "done", None)
        if callable(done) and done():
            return False
        return not self.sched.stopping

    def _advance(self) -> None:
        """Tell what finished, propose what the budget and the slots allow, release the sweep when done."""
        if self.popsize is not None:
            if self.pending and all(self._final(c) for c in self.pending):
                self._tell(self.pending)
            if not self.pending and self._can_ask:
                self._ask(self.popsize)
        else:
            finished = [c for c in self.pending if self._final(c)]
            if finished:
                self._tell(finished)
            room = min(self._concurrency() - len(self.pending), self.budget - self.asked)
            if room > 0 and self._can_ask:
                self._ask(room)
        busy = bool(self.pending) or self._can_ask
        if busy and not self._holding:
            self.sched.hold()
            self._holding = True
        elif not busy and self._holding:
            self.sched.unhold()
            self._holding = False

    def _concurrency(self) -> int:
        limit = getattr(self.search, "max_concurrent", None)
        if isinstance(limit, int) and limit > 0:
            return limit
        slots = getattr(getattr(self.sched.backend, "slots", None), "total", None)
        if not isinstance(slots, int):
            return DEFAULT_CONCURRENCY
        runs_at_once = max(1, slots // max(1, self.sched.resources.cpus))
        return max(1, -(-runs_at_once // len(self.seeds)))

    def _ask(self, n: int) -> None:
        configs = self.search.ask(n)
        if len(configs) != n:
            raise SearchError(f"{type(self.search).__name__}.ask({n}) returned {len(configs)} configs")
        space = self.sweep_space()
        generation = self.generations if self.popsize is not None else None
        width = max(3, len(str(max(1, self.budget - 1))))
        new = []
        for config in configs:
            params = to_json_value({**space.fixed, **dict(config)}, "a proposed config")
            shown = params_name(params, [k for k in params if k not in space.fixed])
            name = bound(sanitize(f"{self.asked:0{width}d}_{shown}"), content_hash(params))
            new.append(Candidate(name, self.asked, params, generation))
            self.asked += 1
        if self.popsize is not None:
            self.generations += 1
        self.pending.extend(new)
        self._save()  # first the search's own record, then the plan: a crash in between loses nothing
        self._grow(new)

    def _grow(self, candidates: Sequence[Candidate]) -> None:
        variants = [Variant(0, c.config, c.name, content_hash(c.config)) for c in candidates]
        self.session.grow(variants, [c.labels() for c in candidates])
        for c in candidates:
            self._index(c)

    def _tell(self, candidates: list[Candidate]) -> None:
        values = [self._score(c) for c in candidates]
        if self.sched.error is not None:
            return
        self.search.tell([c.config for c in candidates], values)
        done = {c.name for c in candidates}
        self.pending = [c for c in self.pending if c.name not in done]
        for c, value in zip(candidates, values):
            c.value = value
            self.told.append(c)
        self._save()
        for c in candidates:
            for rid in self._runs(c):
                self.sched.set_labels(rid, c.labels())

    def _score(self, c: Candidate) -> float:
        from orchestra.results.objective import score_group  # the score `orchestra results` ranks by

        dirs = [self.sweep_dir.run(c.name, seed).path for seed in self.seeds]
        try:
            group = score_group(dirs, self.objective or "")
        except UserError as err:  # the objective holds text, not numbers
            self.sched.fail(SearchError(f"{self.label}: {err}"), drain=True)
            return math.nan
        value, n = group.mean, group.n
        if n:
            self._objective_seen = True
        elif not self._objective_seen and self.sched.error is None:
            completed = [rid for rid in self._runs(c) if self.sched.row(rid).state is State.COMPLETED]
            if completed:
                logged = _logged_keys(
                    self.sweep_dir.run(c.name, self.seeds[self._runs(c).index(completed[0])])
                )
                self.sched.fail(
                    SearchError(
                        f"{self.label}: objective {self.objective!r} is logged by no run (run {completed[0]} "
                        f"logged: {', '.join(logged) or 'nothing'}); set Sweep(objective=) to a metric the entry logs"
                    ),
                    drain=True,
                )
        return value

    # ------------------------------------------------------------------ the stopper

    def _replay(self) -> None:
        """Rebuild the stopper from what every run of the sweep logged so far (in logging order)."""
        streams = []
        for rid, run in self.sched.runs.items():
            if not run.dir.metrics.exists():
                continue
            records = [r for r in read_jsonl(run.dir.metrics).records if isinstance(r, dict)]
            streams.append([(r.get("time") or 0.0, rid, i, r) for i, r in enumerate(records)])
        for _, rid, _, rec in heapq.merge(*streams):
            self._observe(rid, rec)

    def _on_metrics(self, run_id: str, records: list[dict[str, Any]]) -> None:
        for rec in records:
            if isinstance(rec, dict) and self._observe(run_id, rec) and run_id not in self._stopped:
                self._stopped.add(run_id)
                self.sched.stop_early(run_id)

    def _observe(self, run_id: str, rec: Mapping[str, Any]) -> bool:
        stopper = self.stopper
        values = rec.get("values")
        if not isinstance(values, dict) or stopper.metric not in values:
            return False
        self._metric_seen = True
        t = values.get(stopper.time_attr) if getattr(stopper, "time_attr", None) else rec.get("step")
        value = values[stopper.metric]
        if not (_number(t) and _number(value)):
            return False
        return bool(stopper.on_result(run_id, t, float(value)))

    def _check_metric(self, run_id: str) -> None:
        if self._metric_seen or self.sched.error is not None:
            return
        logged = _logged_keys(self.sched.runs[run_id].dir)
        if not logged:
            return
        metric = self.stopper.metric
        self.sched.fail(
            SearchError(
                f"{self.label}: stopper metric {metric!r} is logged by no run (run {run_id} logged: "
                f"{', '.join(logged)}); no run was stopped early: set {type(self.stopper).__name__}(metric=) "
                "to a metric the entry logs"
            ),
            drain=False,
        )

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Follow the scheduler's events until the sweep ends (a helper of the scheduler)."""
        async with self._events:
            async for event in self._events:
                if not event.row.state.finished:
                    continue
                rid = event.row.id
                if self.stopper is not None:
                    self._check_metric(rid)
                if self.search is not None and rid in self.by_run:
                    self._advance()


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _logged_keys(run_dir: Any) -> list[str]:
    keys: dict[str, None] = {}
    for rec in read_jsonl(run_dir.metrics).records if run_dir.metrics.exists() else []:
        if isinstance(rec, dict) and isinstance(rec.get("values"), dict):
            keys.update(dict.fromkeys(rec["values"]))
    return list(keys)
