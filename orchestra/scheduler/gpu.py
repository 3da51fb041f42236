"""The GPU ledger: which run may use which GPU, decided on live readings plus reservations.

What a run asks for (:class:`GpuRequest`, from the sweep's :class:`~orchestra.sweep.Resources`):

- ``gpu_mem=M`` alone: ``M`` bytes on one device, shared with other runs (packable).
- ``gpus=k``: ``k`` whole devices. A whole device is one that no other orchestra run holds (or is
  still releasing) and that others use at most :data:`WHOLE_GPU_MAX_OTHERS` of (a desktop session
  is fine, someone's training job is not). The run then holds it alone: nothing is packed onto it.
- ``gpus=k`` and ``gpu_mem=M``: ``k`` whole devices, each with at least ``M`` available.
- ``max_gpu_util=U``: only devices whose utilisation is at most ``U`` percent now.

How the ledger counts (:class:`GpuLedger`)::

    available(device) = NVML free - headroom - sum over runs holding it of (reserved - allocated)

where ``allocated`` is what NVML lists for the run's processes on that device (the PIDs of its
process group, from ``pids_of``), as of the last :meth:`~GpuLedger.refresh`. A run placed since
the last refresh, or one that has not touched the GPU yet, counts with its whole reservation: the
allocate-late race cannot hand its bytes to the next run. Memory a run uses beyond its reservation
is in NVML's ``used`` already. When a run exits, :meth:`~GpuLedger.release` keeps its reservation
until a reading taken after the exit no longer lists any of its processes on its devices, or until
``release_timeout`` seconds passed (a device that errors cannot confirm).

Placement is best-fit: the device with the least available memory that fits. Devices within
:data:`FIT_GRANULE` of that best fit count as equal; among equals GPU 0 comes last (it often drives
a display or is everyone's default), then the lowest index. A whole-GPU run reserves everything
available on its devices. The ledger is plain synchronous code: the scheduler owns it and calls it
from its single placement task, so two runs can never get the same bytes.

Interface used by the scheduler (requests may be a :class:`GpuRequest` or the sweep's ``Resources``)::

    ledger = GpuLedger(make_probe("auto"), allowed={0, 2}, headroom=512 << 20)
    ledger.pids_of = scheduler.pids_of  # Scheduler(gpus=ledger) does this: a run's process group
    ledger.feasible(resources)          # None, or why it can never fit here (at plan time)
    ledger.refresh()                    # twice a second, and right after a run exits
    grant = ledger.place(run_id, resources)  # GpuGrant, or None: not now (waiting_reason says why)
    env.update(grant.env())             # CUDA_VISIBLE_DEVICES by UUID, ORCHESTRA_DEVICE, ORCHESTRA_GPUS
    status.gpus = grant.devices         # records {"index", "uuid", "name"}
    ledger.release(run_id)              # the run exited
    ledger.views()                      # per device numbers for the dashboard and `orchestra gpus`

A request without GPUs gets :data:`CPU_GRANT` (``CUDA_VISIBLE_DEVICES=""``, ``ORCHESTRA_DEVICE=cpu``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from orchestra.errors import UserError
from orchestra.scheduler.probe import GpuReading, Probe
from orchestra.sweep import Resources
from orchestra.units import format_bytes

RunKey = str  # a run id, "<variant>/<seed>"

FIT_GRANULE = 1 << 30  # devices whose available memory differs by less than this fit equally well
WHOLE_GPU_MAX_OTHERS = 0.10  # a whole-GPU request takes a device others use at most 10% of
DEFAULT_RELEASE_TIMEOUT = 15.0  # seconds a released reservation waits for NVML to show it back


@dataclass(frozen=True)
class GpuRequest:
    """What one run needs from the GPUs: ``gpus`` whole devices, ``mem`` bytes, a utilisation cap."""

    gpus: int = 0
    mem: int | None = None
    max_util: float | None = None

    @classmethod
    def from_resources(cls, resources: Resources) -> GpuRequest:
        return cls(resources.gpus, resources.gpu_mem, resources.max_gpu_util)

    @property
    def wants_gpu(self) -> bool:
        return self.gpus > 0 or self.mem is not None

    @property
    def whole(self) -> bool:
        return self.gpus > 0

    @property
    def count(self) -> int:
        """How many devices it takes."""
        return max(self.gpus, 1)

    def describe(self) -> str:
        """``6.0GiB on one GPU``, ``2 whole GPUs``, ``1 whole GPU with 40.0GiB``."""
        if not self.whole:
            return f"{format_bytes(self.mem or 0)} on one GPU"
        text = f"{self.gpus} whole GPU{'s' if self.gpus > 1 else ''}"
        return (
            text
            if self.mem is None
            else f"{text} with {format_bytes(self.mem)}{' each' if self.gpus > 1 else ''}"
        )


@dataclass(frozen=True)
class GpuDevice(Mapping[str, Any]):
    """An assigned device. It reads as the record in ``status.json``'s ``gpus`` and ``ORCHESTRA_GPUS``
    (``device["uuid"]``), so the scheduler can store it as it is."""

    index: int
    uuid: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "uuid": self.uuid, "name": self.name}

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("index", "uuid", "name"))

    def __len__(self) -> int:
        return 3


@dataclass(frozen=True)
class GpuGrant:
    """The devices a run got; ``mem`` is what it asked for on each, ``exclusive`` for whole GPUs."""

    devices: tuple[GpuDevice, ...] = ()
    mem: int | None = None
    exclusive: bool = False

    def to_json(self) -> list[dict[str, Any]]:
        """The ``gpus`` list of ``status.json``."""
        return [d.to_json() for d in self.devices]

    def env(self) -> dict[str, str]:
        """The run's GPU environment (docs/run-directory.md).

        Devices are named by UUID, which also works for MIG instances and does not depend on
        CUDA's device order; inside the run the first device is ``cuda:0``.
        """
        return {
            "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": ",".join(d.uuid for d in self.devices),
            "ORCHESTRA_DEVICE": "cuda:0" if self.devices else "cpu",
            "ORCHESTRA_GPUS": json.dumps(self.to_json()),
        }


CPU_GRANT = GpuGrant()


def cpu_env() -> dict[str, str]:
    """The GPU environment of a CPU-only run: no visible devices, ``ORCHESTRA_DEVICE=cpu``."""
    return CPU_GRANT.env()


def parse_gpu_selection(text: str, what: str = "--gpus") -> frozenset[int] | None:
    """``"all"`` -> None (every GPU), ``"none"`` -> empty, ``"0,2"`` -> {0, 2}."""
    text = text.strip().lower()
    if text == "all":
        return None
    if text == "none":
        return frozenset()
    try:
        indices = frozenset(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        indices = frozenset({-1})
    if not indices or min(indices) < 0:
        raise UserError(f"{what} {text!r}: write GPU indices such as 0,2, or all, or none")
    return indices


@dataclass(frozen=True)
class RunUse:
    """One run's share of a device in :meth:`GpuLedger.views`."""

    key: str
    reserved: int  # what the run holds on this device
    used: int  # what NVML lists for its processes here
    releasing: bool  # the run exited; waiting for NVML to show its memory back
    exclusive: bool  # it holds the whole device

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.key,
            "reserved": self.reserved,
            "used": self.used,
            "releasing": self.releasing,
            "exclusive": self.exclusive,
        }


@dataclass(frozen=True)
class GpuView:
    """One device for display: live readings and what orchestra holds there (bytes, percent)."""

    index: int
    uuid: str
    name: str
    ok: bool
    error: str | None
    selected: bool  # among the devices orchestra may use (allowed, not avoided)
    total: int
    used: int  # NVML used
    free: int  # NVML free
    util: float | None
    orchestra: int  # in use by orchestra's runs
    others: int  # in use by anything else (other users, the driver): total - free - orchestra
    reserved: int  # reserved by orchestra's runs and not allocated yet
    available: int  # what a new run could get: free - headroom - reserved (0 when held whole)
    runs: tuple[RunUse, ...]
    processes: tuple[tuple[int, int | None], ...]  # other processes: (pid, bytes)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "ok": self.ok,
            "error": self.error,
            "selected": self.selected,
            "total": self.total,
            "used": self.used,
            "free": self.free,
            "util": self.util,
            "orchestra": self.orchestra,
            "others": self.others,
            "reserved": self.reserved,
            "available": self.available,
            "runs": [r.to_json() for r in self.runs],
            "processes": [{"pid": pid, "used": used} for pid, used in self.processes],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GpuView:
        """The view back from :meth:`to_json` (an attached dashboard reads the service's views)."""
        fields = {k: d[k] for k in d if k not in ("runs", "processes")}
        runs = tuple(
            RunUse(r["run"], r["reserved"], r["used"], r["releasing"], r["exclusive"])
            for r in d.get("runs", ())
        )
        processes = tuple((p["pid"], p["used"]) for p in d.get("processes", ()))
        return cls(**fields, runs=runs, processes=processes)


@dataclass
class _Holding:
    """A run's reservation: live while it runs, then releasing until NVML confirms or it times out."""

    key: RunKey
    grant: GpuGrant
    reserved: dict[int, int]  # device index -> bytes held there
    pids: set[int] = field(default_factory=set)  # the run's processes at the last refresh
    gpu_pids: set[int] = field(default_factory=set)  # every one of them NVML ever listed on its devices
    allocated: dict[int, int] = field(default_factory=dict)  # index -> bytes its pids use, last refresh
    released_at: float | None = None
    released_gen: int = 0

    def unallocated(self, index: int) -> int:
        return max(0, self.reserved[index] - self.allocated.get(index, 0))


def _no_pids(key: RunKey) -> set[int]:
    return set()


class GpuLedger:
    """Reservations on top of live readings; see the module docstring for the rules.

    ``allowed`` (indices, None for all) and ``avoid`` choose the devices orchestra may use;
    ``headroom`` bytes stay free on every device; ``pids_of(key)`` gives the PIDs of a run's process
    group now; ``clock`` times release timeouts. The probe belongs to the caller (who closes it).
    The constructor reads the probe once, so :meth:`feasible` can answer at once.
    """

    def __init__(
        self,
        probe: Probe,
        *,
        allowed: Iterable[int] | None = None,
        avoid: Iterable[int] = (),
        headroom: int = 0,
        release_timeout: float = DEFAULT_RELEASE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        pids_of: Callable[[RunKey], Iterable[int]] = _no_pids,
    ) -> None:
        self.probe = probe
        self.allowed = None if allowed is None else frozenset(allowed)
        self.avoid = frozenset(avoid)
        self.headroom = headroom
        self.release_timeout = release_timeout
        self._clock = clock
        self.pids_of = pids_of  # the scheduler that owns this ledger sets it to its runs' process groups
        self._readings: dict[int, GpuReading] = {}
        self._seen: dict[int, GpuReading] = {}  # the last good reading of every device ever read well
        self._live: dict[RunKey, _Holding] = {}
        self._releasing: list[_Holding] = []
        self._gen = 0
        self.refresh()

    @property
    def reason(self) -> str | None:
        """Why there are no GPUs at all (the probe's reason), else None."""
        if self._readings or self._seen:
            return None
        return self.probe.reason or "no GPUs were found"

    def selected(self, index: int) -> bool:
        """Whether orchestra may use device ``index`` (allowed and not avoided)."""
        return (self.allowed is None or index in self.allowed) and index not in self.avoid

    # -- readings -------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Poll the probe, attribute NVML's per-process memory to runs, finish confirmed releases."""
        readings = self.probe.read()
        self._gen += 1
        self._readings = {r.index: r for r in readings}
        for r in readings:
            if r.ok:
                self._seen[r.index] = r
        for h in self._live.values():
            h.pids = set(self.pids_of(h.key))
            self._attribute(h)
        for h in self._releasing:
            self._attribute(h)
        self._finish_releases()

    def _attribute(self, h: _Holding) -> None:
        h.allocated = {}
        for index in h.reserved:
            r = self._readings.get(index)
            if r is None or not r.ok:
                continue
            mine = [(pid, used) for pid, used in r.processes if pid in h.pids]
            h.gpu_pids.update(pid for pid, _ in mine)
            h.allocated[index] = sum(used or 0 for _, used in mine)

    def _finish_releases(self) -> None:
        # Either way (NVML shows the memory back, or the timeout passed) the ledger must hold a
        # reading taken after the release: a stale one may predate the run's last allocations.
        now = self._clock()
        self._releasing = [
            h
            for h in self._releasing
            if not (
                self._gen > h.released_gen
                and (
                    now - (h.released_at or 0.0) >= self.release_timeout
                    or all(self._freed(h, i) for i in h.reserved)
                )
            )
        ]

    def _freed(self, h: _Holding, index: int) -> bool:
        r = self._readings.get(index)
        return r is not None and r.ok and not any(pid in h.pids for pid, _ in r.processes)

    # -- decisions ------------------------------------------------------------------------------

    def feasible(self, resources: GpuRequest | Resources) -> str | None:
        """None if the request could fit on the usable devices of this machine when they are idle, else why.

        The reason reads after a run or sweep name: "asks for 30.0GiB on one GPU, but ...".
        """
        req = _request(resources)
        if not req.wants_gpu:
            return None
        present = set(self._readings) | set(self._seen)
        if not present:
            return f"asks for {req.describe()}, but this machine has no GPUs ({self.reason})"
        missing = sorted((self.allowed or frozenset()) - present)
        if missing:
            return f"GPU {missing[0]} was selected, but this machine has only {_indices(present)}"
        selected = [i for i in sorted(present) if self.selected(i)]
        if not selected:
            return f"asks for {req.describe()}, but the GPU selection leaves none of {_indices(present)}"
        usable = {i: self._seen[i].total for i in selected if i in self._seen}
        if not usable:
            errors = "; ".join(f"GPU {i}: {self._readings[i].error}" for i in selected)
            return f"asks for {req.describe()}, but no usable GPU could be read ({errors})"
        room = {i: total - self.headroom for i, total in usable.items()}
        fitting = [i for i in usable if req.mem is None or room[i] >= req.mem]
        if len(fitting) >= req.count:
            return None
        if req.mem is None:
            return f"asks for {req.describe()}, but only {len(usable)} can be used ({_indices(usable)})"
        largest = max(usable, key=lambda i: (room[i], -i))
        headroom = f" less {format_bytes(self.headroom)} headroom" if self.headroom else ""
        if req.count == 1:
            return (
                f"asks for {req.describe()}, but the largest usable GPU has "
                f"{format_bytes(usable[largest])}{headroom} (GPU {largest})"
            )
        return (
            f"asks for {req.describe()}, but only {len(fitting)} usable GPU(s) have that much "
            f"(largest: {format_bytes(usable[largest])}{headroom}, GPU {largest})"
        )

    def place(self, run_key: RunKey, resources: GpuRequest | Resources) -> GpuGrant | None:
        """Reserve devices for run ``run_key`` now, or None when the request does not fit now.

        A request without GPUs gets :data:`CPU_GRANT` and reserves nothing.
        """
        req = _request(resources)
        if not req.wants_gpu:
            return CPU_GRANT
        if run_key in self._live:
            raise ValueError(f"run {run_key!r} already holds GPUs; release it first")
        self._finish_releases()
        chosen, _ = self._choose(req)
        if not chosen:
            return None
        devices = tuple(GpuDevice(i, self._readings[i].uuid, self._readings[i].name) for i in chosen)
        # A whole GPU is the run's alone: it holds everything available there.
        whole = {i: max(0, self._available(i)) for i in chosen}
        reserved = whole if req.whole else {chosen[0]: req.mem or 0}
        grant = GpuGrant(devices, req.mem, exclusive=req.whole)
        self._live[run_key] = _Holding(run_key, grant, reserved)
        return grant

    def waiting_reason(self, resources: GpuRequest | Resources) -> str:
        """Why the request cannot be placed now, in one line (for the dashboard); "" when it can."""
        chosen, why = self._choose(_request(resources))
        return "" if chosen else why

    def release(self, run_key: RunKey) -> None:
        """Run ``run_key`` exited: its reservation goes once NVML shows its memory back (or times out)."""
        h = self._live.pop(run_key, None)
        if h is None:
            return
        h.pids |= h.gpu_pids | set(self.pids_of(run_key))
        h.released_at = self._clock()
        h.released_gen = self._gen
        self._releasing.append(h)

    def adopt(self, key: RunKey, grant: GpuGrant) -> None:
        """Account for a placement made elsewhere (the running runs of a sweep read from disk).

        No checks: the run already has its devices. It counts with ``grant.mem`` on each.
        """
        h = _Holding(key, grant, {d.index: grant.mem or 0 for d in grant.devices})
        h.pids = set(self.pids_of(key))
        self._attribute(h)
        self._live[key] = h

    def _holders(self, index: int) -> list[_Holding]:
        return [h for h in chain(self._live.values(), self._releasing) if index in h.reserved]

    def _available(self, index: int) -> int:
        return (
            self._readings[index].free
            - self.headroom
            - sum(h.unallocated(index) for h in self._holders(index))
        )

    def _choose(self, req: GpuRequest) -> tuple[list[int], str]:
        """The devices for ``req`` (best first), or none and why."""
        fits: dict[int, int] = {}  # index -> available
        skipped: dict[str, list[int]] = {}
        best: tuple[int, int] | None = None  # (available, index) of the roomiest device that fell short
        for index, r in sorted(self._readings.items()):
            if not self.selected(index):
                continue
            holders = self._holders(index)
            available = self._available(index) if r.ok else 0
            if not r.ok:
                why = "unavailable (error)"
            elif any(h.grant.exclusive for h in holders):
                why = "held whole by a run"
            elif req.max_util is not None and r.util is not None and r.util > req.max_util:
                why = f"busier than {req.max_util:g}%"
            elif req.whole and holders:
                why = "shared with other runs"
            elif req.whole and r.free < (1 - WHOLE_GPU_MAX_OTHERS) * r.total:
                why = f"over {WHOLE_GPU_MAX_OTHERS:.0%} used by others"
            elif req.mem is not None and available < req.mem:
                why = "short of memory"
                if best is None or available > best[0]:
                    best = (available, index)
            else:
                fits[index] = available
                continue
            skipped.setdefault(why, []).append(index)
        if len(fits) >= req.count:
            return [_best_fit(fits) for _ in range(req.count)], ""
        if not self._readings:
            return [], f"waiting for {req.describe()}: " + (
                f"no GPUs ({self.reason})" if self.reason else "no GPU is reported now"
            )
        parts = [f"{_indices(indices)} {why}" for why, indices in skipped.items()]
        if best is not None:
            parts.append(f"most available: {format_bytes(max(0, best[0]))} on GPU {best[1]}")
        if not parts:
            parts.append("no usable GPU")
        return [], f"waiting for {req.describe()}: " + "; ".join(parts)

    # -- display --------------------------------------------------------------------------------

    def views(self) -> list[GpuView]:
        """Every device ever seen, in index order, with what orchestra holds on it."""
        out = []
        for index in sorted(set(self._readings) | set(self._seen)):
            r = self._readings.get(index)
            if r is None:
                last = self._seen[index]
                r = GpuReading(
                    index, last.uuid, last.name, ok=False, error="no longer reported by the driver"
                )
            holders = self._holders(index)
            ours = set().union(*(h.pids for h in holders)) if holders else set()
            orchestra = sum(h.allocated.get(index, 0) for h in holders)
            reserved = sum(h.unallocated(index) for h in holders)
            held_whole = any(h.grant.exclusive for h in holders)
            available = 0 if not r.ok or held_whole else max(0, r.free - self.headroom - reserved)
            runs = tuple(
                RunUse(
                    h.key,
                    h.reserved[index],
                    h.allocated.get(index, 0),
                    h.released_at is not None,
                    h.grant.exclusive,
                )
                for h in holders
            )
            out.append(
                GpuView(
                    index=index,
                    uuid=r.uuid,
                    name=r.name,
                    ok=r.ok,
                    error=r.error,
                    selected=self.selected(index),
                    total=r.total,
                    used=r.used,
                    free=r.free,
                    util=r.util,
                    orchestra=orchestra,
                    others=max(0, r.total - r.free - orchestra) if r.ok else 0,
                    reserved=reserved,
                    available=available,
                    runs=runs,
                    processes=tuple(p for p in r.processes if p[0] not in ours),
                )
            )
        return out


def _best_fit(fits: dict[int, int]) -> int:
    """Take the best-fitting device out of ``fits`` (index -> available): see the module docstring."""
    tightest = min(fits.values())
    equals = [i for i, available in fits.items() if available - tightest < FIT_GRANULE]
    index = min(equals, key=lambda i: (i == 0, i))
    del fits[index]
    return index


def _request(request: GpuRequest | Resources) -> GpuRequest:
    return request if isinstance(request, GpuRequest) else GpuRequest.from_resources(request)


def _indices(indices: Iterable[int]) -> str:
    """``GPU 2`` or ``GPUs 0, 1, 3``."""
    items = sorted(indices)
    if len(items) == 1:
        return f"GPU {items[0]}"
    return "GPUs " + ", ".join(str(i) for i in items)
