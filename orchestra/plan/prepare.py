"""Prepare a sweep's directory: plan the runs, reconcile with what is on disk, decide what to run.

``reconcile`` reads and decides but writes nothing (``--dry-run`` stops there); ``apply`` writes
``sweep.json`` and the payload. Run directories are made when a run first starts, so preparing a
sweep of 100,000 runs writes two files.

A sweep that is prepared again (``orchestra up`` a second time) keeps its recorded plan: Sample
draws are reused, completed runs are skipped, interrupted runs are queued again. When the sweep
file changed so that variants differ from the recorded ones, ``reconcile`` refuses unless asked to
``update``: then unchanged variants keep their directories and results, changed or new variants get
directories of their own, and variants no longer in the file are kept on disk as "retired".
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from orchestra import __version__
from orchestra.atomic import remove_stale_temps
from orchestra.errors import PlanError, fix_for
from orchestra.pathnames import check_path_component
from orchestra.plan.loader import LoadedSweep
from orchestra.plan.overrides import Override
from orchestra.plan.overrides import apply as apply_overrides
from orchestra.plan.overrides import equal as same_overrides
from orchestra.plan.overrides import parse_all as parse_overrides
from orchestra.plan.overrides import shown as shown_overrides
from orchestra.plan.overrides import texts as override_texts
from orchestra.rundir import (
    CONFIG_JSON,
    FORMAT,
    RUNS,
    STATUS_JSON,
    Exit,
    Reason,
    RunDir,
    State,
    Status,
    SweepDir,
    outlives_orchestrator,
    read_json_or_none,
    write_json,
)
from orchestra.rundir.files import DIR_MODE, open_dir_nofollow
from orchestra.rundir.plan import run_numbers
from orchestra.space.variant import Variant
from orchestra.sweep import Plan, RunSpec


@dataclass(frozen=True)
class PlannedRun:
    """A run of the plan, what was found on disk for it, and whether this ``up`` starts it."""

    spec: RunSpec
    dir: RunDir
    status: Status | None
    start: bool
    orphaned: bool = False  # 'running' on disk with no live orchestrator: the backend recovers it first
    handle: Any = None  # the backend re-attached it (a Slurm job that went on): the scheduler supervises it
    labels: Mapping[str, Any] = field(default_factory=dict)  # shown by frontends (a search's generation)

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass
class Reconciled:
    sweep_dir: SweepDir
    name: str
    plan: Plan
    runs: list[PlannedRun]
    record: dict[str, Any]
    new: bool
    notes: list[str] = field(default_factory=list)

    @property
    def to_start(self) -> list[PlannedRun]:
        return [r for r in self.runs if r.start]


def run_config(sweep: str, spec: RunSpec, options: dict[str, Any]) -> dict[str, Any]:
    """The content of a run's ``config.json`` (docs/run-directory.md)."""
    return {
        "sweep": sweep,
        "run": spec.index,
        "variant": spec.variant.name,
        "seed": spec.seed,
        "key": spec.variant.key,
        "config": spec.variant.params,
        "options": options,
    }


def sweep_name(loaded: LoadedSweep, name: str | None) -> str:
    return check_path_component(name or loaded.sweep.name or loaded.path.stem, "sweep name")


def reconcile(
    loaded: LoadedSweep,
    root: str | os.PathLike[str],
    *,
    name: str | None = None,
    payload: bytes = b"",
    retry_failed: bool = False,
    update: bool = False,
    overrides: Sequence[Override] | None = None,
) -> Reconciled:
    """Plan the sweep against its directory under ``root``; reads only.

    ``overrides`` (the command line's) change the space; None keeps those the plan was made with.
    """
    sweep = loaded.sweep
    sweep.check_env()
    name = sweep_name(loaded, name)
    sweep_dir = SweepDir(Path(root) / name)
    notes: list[str] = []
    old: dict[str, Any] | None = sweep_dir.read_plan() if sweep_dir.exists() else None
    overrides = _effective_overrides(loaded, name, old, overrides, update, notes)
    space, seeds = apply_overrides(sweep.space, sweep.seeds, overrides)
    fresh = sweep.plan(name, space=space, seeds=seeds)
    if old is None:
        if sweep_dir.path.exists() and any(sweep_dir.runs.glob("*/*/status.json")):
            raise PlanError(
                f"{sweep_dir.path}: holds runs but no sweep.json; move it away or choose another --name"
            )
        variants = list(fresh.variants)
        retired: list[dict[str, Any]] = []
        created = time.time()
        search = sweep.search_settings().get("search")
        if search is not None:
            notes.append(
                f"{search['search'].get('kind', 'the search')} proposes up to {sweep.budget} candidates "
                f"({sweep.budget} x {len(seeds)} seed(s) = {(sweep.budget or 0) * len(seeds)} runs) as results arrive"
            )
    else:
        _check_search(loaded, name, old, update, notes)
        variants, retired_variants, changes = _match(fresh.variants, old)
        if changes and not update:
            raise PlanError(
                f"{loaded.path.name} changed since sweep {name!r} was planned ({'; '.join(changes)}); "
                f"run `orchestra up {loaded.path.name} --name NEW` for a new sweep, or add --update to keep "
                "the unchanged variants' results and run changed ones in new directories"
            )
        if changes:
            notes.append(f"updated the plan: {'; '.join(changes)}")
        retired = list(old.get("retired", [])) + [v.to_json() for v in retired_variants]
        created = old.get("created", time.time())
        old_seeds = list(old.get("seeds", []))
        added = [s for s in seeds if s not in old_seeds]
        if added:
            notes.append(f"seeds added: {', '.join(map(str, added))}")
        if old.get("payload_sha256") and payload and old["payload_sha256"] != _sha(payload):
            notes.append("the entry function changed since the last up; finished runs keep their results")
    numbers = run_numbers(old) if old is not None else {}
    plan = Plan.numbered(variants, seeds, numbers)
    live = {(r.variant.name, r.seed) for r in plan.runs}
    retired_runs: list[list[Any]] = sorted(
        ([name, seed, index] for (name, seed), index in numbers.items() if (name, seed) not in live),
        key=lambda r: int(r[2]),
    )
    runs = _decide_all(plan, sweep_dir, old, retry_failed)
    proposals = _proposal_fields(old)
    record = {
        "format": FORMAT,
        "name": name,
        "created": created,
        "updated": time.time(),
        "orchestra_version": __version__,
        "sweep_file": str(loaded.path),
        "sweep_attr": loaded.attr,
        "entry": getattr(sweep.entry, "__qualname__", repr(sweep.entry)),
        "entry_module": getattr(sweep.entry, "__module__", None),
        "payload_sha256": _sha(payload) if payload else None,
        "settings": sweep.settings(),
        "sample_seed": sweep.draw_seed(name),
        "overrides": override_texts(overrides),
        "seeds": list(seeds),
        "variants": [{**v.to_json(), **proposals.get(v.name, {})} for v in variants],
        "runs": plan.runs_json(),
        "retired": retired,
        "retired_runs": retired_runs,
        "adhoc": list(old.get("adhoc", [])) if old else [],  # runs `orchestra run --config` added
    }
    return Reconciled(sweep_dir, name, plan, runs, record, old is None, notes)


def _effective_overrides(
    loaded: LoadedSweep,
    name: str,
    old: dict[str, Any] | None,
    given: Sequence[Override] | None,
    update: bool,
    notes: list[str],
) -> Sequence[Override]:
    """The overrides this plan is made with: the given ones, else those recorded with the plan.

    A sweep keeps its meaning: other overrides than the recorded ones change the plan, which
    (like an edited sweep file) needs ``--update``.
    """
    recorded = parse_overrides(old.get("overrides") or [], "recorded override") if old else ()
    if given is None:
        if recorded:
            notes.append(f"planned with the overrides {shown_overrides(recorded)} (recorded in sweep.json)")
        return recorded
    if old is not None and not same_overrides(given, recorded):
        if not update:
            raise PlanError(
                f"sweep {name!r} was planned with the overrides {shown_overrides(recorded)}, not "
                f"{shown_overrides(given)}; add --update to re-plan it with these (unchanged variants keep "
                f"their results), or run `orchestra up {loaded.path.name} --name NEW ...` for a new sweep"
            )
        notes.append(f"overrides changed from {shown_overrides(recorded)} to {shown_overrides(given)}")
    return given


def apply(rec: Reconciled, payload: bytes, *, launch: bool = True) -> list[str]:
    """Write the payload, ``sweep.json`` and (``launch``) ``launch/``; returns warning lines (a large
    launch archive). A sweep run again from its record keeps the launch it was made with.

    Called under the sweep's lock, so no other orchestrator writes here: the temp files that
    orchestrators write (``.payload.pkl.*.tmp``, ``.sweep.json.*.tmp``, a run's
    ``.status.json.*.tmp`` and ``.config.json.*.tmp``) are left by a killed one and removed. Runs
    remove their own (result, metadata, snapshots) when their next attempt starts: on a cluster a
    run may still be alive while this runs.

    A write that fails (a full disk, a quota, a read-only directory) is a PlanError that names the
    file: one line, and nothing has started. Each file is replaced atomically, so a sweep that
    existed keeps its previous ones.
    """
    from orchestra.plan.launch import write_launch
    from orchestra.runtime.payload import write_payload

    sweep = rec.sweep_dir
    with writing(sweep.path, "make the sweep directory"):
        sweep.path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    with writing(sweep.runs, "make the runs' directory"):
        _ensure_runs_dir(sweep)
    remove_stale_temps(sweep.path)
    with writing(sweep.payload, "write the entry function"):
        write_payload(sweep.payload, payload)
    with writing(sweep.sweep_json, "write the plan"):
        write_json(sweep.sweep_json, rec.record)
    started = _started_variants(sweep)  # a fresh sweep's runs have no directory to look in
    for r in rec.runs:
        # the runs whose status a killed orchestrator may have been writing
        if (r.start or r.orphaned) and r.spec.variant.name in started:
            remove_stale_temps(r.dir.path, ORCHESTRATOR_FILES)
    if not launch:
        return []
    with writing(sweep.launch, "record what launched the sweep"):
        return write_launch(
            sweep, Path(rec.record["sweep_file"]), bool(rec.record["settings"]["archive_launch_repo"])
        )


def remove_stale_temps_of_every_run(sweep: SweepDir) -> None:
    """After an orchestrator died: the temp files of its writes in every run directory and in
    ``launch/`` too, not only in those of the runs this ``up`` starts (:func:`apply`). One
    ``scandir`` per run directory: about 0.1 s for 10,000 runs, so only then."""
    remove_stale_temps(sweep.launch)
    try:
        variants = os.scandir(sweep.runs)
    except OSError:
        return
    with variants:
        for v in variants:
            if v.is_dir(follow_symlinks=False):
                for seed in os.listdir(v.path):
                    remove_stale_temps(os.path.join(v.path, seed), ORCHESTRATOR_FILES)


@contextmanager
def writing(path: str | os.PathLike[str], action: str) -> Iterator[None]:
    """Turn an OSError of the block into one line for the user: ``PATH: cannot ACTION (why); what to do``."""
    try:
        yield
    except OSError as exc:
        raise PlanError(
            f"{os.fspath(path)}: cannot {action} ({exc.strerror or exc}); {fix_for(exc, 'run `orchestra up` again')}"
        ) from None


def reconcile_recorded(sweep_dir: SweepDir, *, retry_failed: bool = False) -> Reconciled:
    """The plan a sweep directory recorded, against what is on disk now (reads only).

    What ``orchestra up DIR`` runs, and what a dashboard opened on a finished sweep retries in: the
    recorded variants (their Sample draws and a search's proposals included) with their run numbers,
    whatever became of the sweep file since.
    """
    record = sweep_dir.read_plan()
    try:
        variants = [Variant.from_json(d) for d in record["variants"]]
        plan = Plan.numbered(variants, record["seeds"], run_numbers(record))
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(
            f"{sweep_dir.sweep_json}: a variant or run is malformed ({exc!r}); repair or remove it"
        ) from None
    runs = _decide_all(plan, sweep_dir, record, retry_failed)
    notes = []
    if isinstance((record.get("settings") or {}).get("search"), dict):
        notes.append(
            "a search proposes candidates only when started from its sweep file "
            f"(orchestra up {record.get('sweep_file')}); this runs the candidates it proposed"
        )
    return Reconciled(
        sweep_dir, str(record.get("name", sweep_dir.path.name)), plan, runs, dict(record), False, notes
    )


def mark_retry(rec: Reconciled, texts: Sequence[str]) -> Reconciled:
    """``rec`` with the runs ``texts`` name (as ``orchestra logs`` takes them) queued again.

    A run that completed or is live stays as it is, and says so in a note.
    """
    if not texts:
        return rec
    from orchestra.rundir import planned_runs, resolve_run

    refs = planned_runs(rec.sweep_dir, {**rec.record, "runs": rec.plan.runs_json()})
    wanted = {resolve_run(refs, text).id for text in texts}
    runs = []
    for r in rec.runs:
        if r.id in wanted and not r.start and not r.orphaned:
            if r.status is not None and r.status.state.retryable:
                r = replace(r, start=True)
            else:
                rec.notes.append(f"{r.id} is {r.status.state.value if r.status else 'new'}; nothing to retry")
        runs.append(r)
    return replace(rec, runs=runs)


ORCHESTRATOR_FILES = (STATUS_JSON, CONFIG_JSON)  # what the orchestrator writes in a run directory


def _ensure_runs_dir(sweep: SweepDir) -> None:
    """Make ``runs/`` (0755); a link or a file in its place is refused, never followed."""
    fd = os.open(sweep.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.close(open_dir_nofollow(fd, RUNS, create=True, where=str(sweep.runs)))
    finally:
        os.close(fd)


def _started_variants(sweep_dir: SweepDir) -> set[str]:
    """Names of the variants that have a directory: only their runs can have a status to read."""
    try:
        return set(os.listdir(sweep_dir.runs))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _decide_all(
    plan: Plan, sweep_dir: SweepDir, record: Mapping[str, Any] | None, retry_failed: bool
) -> list[PlannedRun]:
    """What each run of ``plan`` is on disk and whether this ``up`` starts it (labels from the record)."""
    extra = _proposal_fields(record)
    started = _started_variants(sweep_dir)
    return [
        _decide(
            spec,
            sweep_dir,
            retry_failed,
            extra.get(spec.variant.name, {}).get("labels", {}),
            spec.variant.name in started,
        )
        for spec in plan.runs
    ]


def _decide(
    spec: RunSpec, sweep_dir: SweepDir, retry_failed: bool, labels: Mapping[str, Any], started: bool
) -> PlannedRun:
    run_dir = sweep_dir.run(spec.variant.name, spec.seed)
    # a fresh sweep of 100,000 runs needs no 100,000 failed opens to learn that none has started
    status = run_dir.read_status(strict=True) if started else None
    if status is not None and (
        status.state is State.RUNNING or (status.state is State.QUEUED and status.handle)
    ):  # running, or waiting in a backend's own queue (a pending Slurm job): the backend recovers it
        return PlannedRun(spec, run_dir, status, start=False, orphaned=True, labels=labels)
    if status is None or status.state is State.QUEUED:
        start = True
    elif status.state is State.COMPLETED:
        start = False
    elif status.state is State.INTERRUPTED:
        start = True
    else:
        start = retry_failed
    return PlannedRun(spec, run_dir, status, start, labels=labels)


def settle(run: PlannedRun) -> PlannedRun:
    """What became of a run a dead orchestrator left 'running' that the backend could not re-attach
    (its processes are gone by now); the new status is written.

    If the run wrote its result for that attempt it completed while nobody watched; otherwise it
    was lost, and this ``up`` runs it again from its newest snapshot.
    """
    assert run.status is not None
    status = _settled(run.status, run.dir)
    with writing(run.dir.status, f"record what became of run {run.id}"):
        run.dir.write_status(status)
    return replace(run, status=status, start=status.state is not State.COMPLETED, orphaned=False)


def settle_status(run_path: str | os.PathLike[str]) -> None:
    """:func:`settle` for a run directory alone (``attach`` on a sweep whose orchestrator died).

    A run whose attempt outlives the orchestrator (a Slurm job) is left as it is: it goes on, and
    the next ``orchestra up`` re-attaches to it.
    """
    run_dir = RunDir(run_path)
    status = run_dir.read_status()
    if status is not None and status.state is State.RUNNING and not outlives_orchestrator(status):
        run_dir.write_status(_settled(status, run_dir))


def _settled(status: Status, run_dir: RunDir) -> Status:
    now = time.time()
    result = read_json_or_none(run_dir.result)
    if (
        isinstance(result, dict)
        and result.get("attempt") == status.attempt
        and result.get("status") == "completed"
    ):
        ended = result.get("ended_at") or now
        exit_ = Exit(Reason.SUCCESS, 0, message="finished while the orchestrator was down")
        return status.moved(State.COMPLETED, ended, ended_at=ended, exit=exit_, pid=None)
    return status.moved(
        State.INTERRUPTED, now, ended_at=now, exit=Exit(Reason.LOST, message="orchestrator died"), pid=None
    )


def _masked(v: Variant) -> str:
    """A variant's identity without its Sample draws: what the sweep file decides."""
    return v.masked()


def _proposal_fields(old: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """What ``sweep.json`` records of variants a search proposed, beyond the variant: by name."""
    return {
        d["name"]: {"proposed": True, "labels": d.get("labels", {})}
        for d in (old or {}).get("variants", [])
        if d.get("proposed")
    }


def _check_search(
    loaded: LoadedSweep, name: str, old: Mapping[str, Any], update: bool, notes: list[str]
) -> None:
    """A search cannot go on under another configuration: refused like a changed sweep file.

    Its budget may change (a note says so); a plain sweep's stopper may change with ``--update``.
    """
    now = loaded.sweep.search_settings()
    before = old.get("settings", {})
    label = loaded.path.name
    if before.get("search") != now.get("search"):
        what = _search_difference(before.get("search"), now.get("search"))
        raise PlanError(
            f"{label}: the search changed since sweep {name!r} was planned ({what}); a search goes on only "
            f"as it started: run `orchestra up {label} --name NEW` for a new sweep"
        )
    if before.get("budget") != now.get("budget") and now.get("budget") is not None:
        notes.append(f"budget changed from {before.get('budget')} to {now['budget']} candidates")
    if before.get("stopper") != now.get("stopper"):
        if not update:
            raise PlanError(
                f"{label}: the stopper changed since sweep {name!r} was planned; run `orchestra up {label} "
                "--name NEW` for a new sweep, or add --update to go on with the new stopper"
            )
        notes.append("the stopper changed; runs still to run follow the new one")


def _search_difference(before: Any, now: Any, path: str = "") -> str:
    """``search.seed 1 -> 2``: the first few settings that differ."""
    if before is None and not path:
        return "it had no search"
    if now is None and not path:
        return "it has no search any more"
    if isinstance(before, Mapping) and isinstance(now, Mapping):
        keys = [k for k in {**before, **now} if before.get(k) != now.get(k)]
        return ", ".join(
            _search_difference(before.get(k), now.get(k), f"{path}.{k}" if path else k) for k in keys[:3]
        )
    return f"{path} {before!r} -> {now!r}"


def _match(fresh: Sequence[Variant], old: dict[str, Any]) -> tuple[list[Variant], list[Variant], list[str]]:
    """Pair fresh variants with recorded ones; returns the plan's variants, the retired, the changes.

    Variants a search proposed are not in the sweep file: they are kept, after the file's own.
    """
    recorded = [Variant.from_json(d) for d in old.get("variants", []) if not d.get("proposed")]
    proposed = [Variant.from_json(d) for d in old.get("variants", []) if d.get("proposed")]
    out, gone, changes = _match_file(fresh, recorded, old)
    return [*out, *(replace(v, index=len(out) + i) for i, v in enumerate(proposed))], gone, changes


def _match_file(
    fresh: Sequence[Variant], recorded: list[Variant], old: dict[str, Any]
) -> tuple[list[Variant], list[Variant], list[str]]:
    if [v.key for v in fresh] == [v.key for v in recorded]:  # the common case: nothing changed
        return [replace(r, index=i) for i, r in enumerate(recorded)], [], []
    pool: dict[str, list[Variant]] = {}
    for v in recorded:
        pool.setdefault(_masked(v), []).append(v)
    taken_names = {d["name"] for d in old.get("variants", [])} | {d["name"] for d in old.get("retired", [])}
    out: list[Variant] = []
    added: list[str] = []
    used: set[str] = set()
    for i, v in enumerate(fresh):
        candidates = pool.get(_masked(v))
        if candidates:
            r = candidates.pop(0)
            used.add(r.name)
            out.append(Variant(i, r.params, r.name, r.key, r.sampled))
        else:
            name = v.name if v.name not in taken_names else f"{v.name}~{v.key[:8]}"
            taken_names.add(name)
            added.append(v.name)
            out.append(Variant(i, v.params, name, v.key, v.sampled))
    gone = [v for v in recorded if v.name not in used]
    changes = []
    if added:
        changes.append(f"{len(added)} new or changed variant(s), e.g. {added[0]!r}")
    if gone:
        changes.append(f"{len(gone)} recorded variant(s) no longer in the file, e.g. {gone[0].name!r}")
    return out, gone, changes


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
