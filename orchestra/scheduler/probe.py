"""GPU probes: live readings of every device's memory, utilisation and processes.

A probe has one job: say what the GPUs look like *now*. Decisions are the ledger's
(:mod:`orchestra.scheduler.gpu`). Three probes share one small interface, :class:`Probe`:

- :class:`NvmlProbe` reads the devices through pynvml (nvidia-ml-py). When NVML does not load (no
  driver, no GPU, a container without the library) it has no devices and ``reason`` says why in
  one line; that is never an error. A device that errors during a read is reported with
  ``ok=False`` (unavailable), the others are read as usual.
- :class:`FakeProbe` pretends: ``FakeProbe("4x24GiB")`` or ``FakeProbe("2x80GiB,1x16GiB")``, and is
  scripted by tests (processes appearing, memory allocated late, utilisation, a device erroring or
  vanishing and coming back). Given a ``path`` it keeps its state in a JSON file that it re-reads on
  every :meth:`~FakeProbe.read`, so *other processes* can script it too: ``orchestra gpus
  --fake-gpus state.json``, or a run's child process "allocating" memory with :func:`fake_allocate`.
- :class:`NullProbe` has no devices and a fixed reason (``--gpus none``).

:func:`make_probe` builds one from a spec string: ``auto`` (NVML), ``none``, ``fake:4x24GiB``, or
``fake:PATH`` (a fake state file written earlier by ``FakeProbe(spec, path=PATH)``).

The fake state file (``"format": "orchestra-fake-gpus/1"``) is one JSON object::

    {"format": "orchestra-fake-gpus/1",
     "devices": [{"index": 0, "uuid": "GPU-fa4e0000-…", "name": "Fake GPU 24.0GiB",
                  "total": 25769803776, "extra_used": 0, "util": 0.0, "state": "ok",
                  "processes": [[4242, 1073741824], [4243, null]]}]}

``state`` is ``ok``, ``error`` (read as ``ok=False``) or ``gone`` (absent from readings);
``processes`` are ``[pid, bytes]`` pairs (``null`` bytes: NVML could not tell), or ``[pid, bytes, true]``
for a real process of this machine (from :func:`fake_allocate`), dropped once it exits; ``extra_used`` is
memory in use by no listed process. ``used = extra_used + sum(process bytes)``, ``free = total -
used``. Writers change it with a locked read-modify-write (``flock`` on ``PATH.lock``) and an atomic
replace, so the fake's readers never see half a file and concurrent writers lose nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from orchestra.errors import UserError
from orchestra.rundir import read_json, write_json
from orchestra.units import format_bytes, parse_bytes


@dataclass(frozen=True)
class GpuReading:
    """One device as one read saw it. Sizes in bytes; ``util`` in percent (None: not reported).

    ``processes`` are ``(pid, bytes)`` pairs of the compute and graphics processes on the device
    (bytes None when NVML cannot tell, as in some containers). ``ok=False`` means the device
    errored this read (``error`` says how): it is unavailable, and its other fields are zero.
    """

    index: int
    uuid: str
    name: str
    total: int = 0
    used: int = 0
    free: int = 0
    util: float | None = None
    processes: tuple[tuple[int, int | None], ...] = ()
    ok: bool = True
    error: str | None = None


class Probe(Protocol):
    """What the ledger needs from a probe: readings now, or why there are none."""

    reason: str | None  # why there are no GPUs at all (None when there are some)

    def read(self) -> list[GpuReading]:
        """The devices present now, in index order; never raises for a device's error."""
        ...

    def close(self) -> None:
        """Release the library (idempotent)."""
        ...


class NullProbe:
    """No GPUs, for a stated reason (``--gpus none``)."""

    def __init__(self, reason: str) -> None:
        self.reason: str | None = reason

    def read(self) -> list[GpuReading]:
        return []

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------
# NVML


class NvmlProbe:
    """Live readings through pynvml; no GPUs (with ``reason``) when NVML does not load.

    NVML is initialised once here and shut down by :meth:`close`. Each read gets, per device:
    the running processes (compute and graphics), then memory (``nvmlDeviceGetMemoryInfo`` with the
    v2 struct where the library and driver have it, else v1), then utilisation. Processes are read
    *before* memory on purpose: a run allocating between the two calls then shows up in ``free``
    but not yet in its process's bytes, which makes the ledger count its reservation twice
    (conservative) instead of not at all.
    """

    def __init__(self) -> None:
        self.reason: str | None = None
        self._nvml: Any = None
        self._count = 0
        self._handles: dict[int, Any] = {}
        self._ids: dict[int, tuple[str, str]] = {}  # index -> (uuid, name), read once
        self._mem_v2 = True
        self._process_fns: dict[str, list[str]] = {
            "compute": ["nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetComputeRunningProcesses_v2"],
            "graphics": ["nvmlDeviceGetGraphicsRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses_v2"],
        }
        try:
            import pynvml
        except ImportError as exc:
            self.reason = f"pynvml is not importable ({exc}); install nvidia-ml-py"
            return
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.reason = f"NVML did not load ({_nvml_text(pynvml, exc)})"
            return
        self._nvml = pynvml
        try:
            self._count = int(pynvml.nvmlDeviceGetCount())
        except pynvml.NVMLError as exc:
            self.reason = f"NVML could not count the GPUs ({exc})"
            self.close()
            return
        if self._count == 0:
            self.reason = "NVML loaded but found no GPUs"
        self._mem_v2 = hasattr(pynvml, "nvmlMemory_v2")

    def read(self) -> list[GpuReading]:
        if self._nvml is None:
            return []
        return [self._read_device(i) for i in range(self._count)]

    def close(self) -> None:
        nvml, self._nvml = self._nvml, None
        self._handles.clear()
        if nvml is not None:
            with contextlib.suppress(nvml.NVMLError):
                nvml.nvmlShutdown()

    def _read_device(self, index: int) -> GpuReading:
        nvml = self._nvml
        uuid, name = self._ids.get(index, ("", ""))
        try:
            handle = self._handles.get(index)
            if handle is None:
                handle = self._handles[index] = nvml.nvmlDeviceGetHandleByIndex(index)
            if index not in self._ids:
                uuid = _text(nvml.nvmlDeviceGetUUID(handle))
                name = _text(nvml.nvmlDeviceGetName(handle))
                self._ids[index] = (uuid, name)
            processes = self._processes(handle)
            mem = self._memory(handle)
            util = self._util(handle)
        except nvml.NVMLError as exc:
            self._handles.pop(index, None)  # a reset device may need a fresh handle
            return GpuReading(index, uuid, name, ok=False, error=f"NVML: {exc}")
        return GpuReading(index, uuid, name, int(mem.total), int(mem.used), int(mem.free), util, processes)

    def _memory(self, handle: Any) -> Any:
        nvml = self._nvml
        if self._mem_v2:
            try:
                return nvml.nvmlDeviceGetMemoryInfo(handle, version=nvml.nvmlMemory_v2)
            except TypeError:  # a pynvml whose nvmlDeviceGetMemoryInfo takes no version
                self._mem_v2 = False
            except nvml.NVMLError as exc:
                if not _is_missing(nvml, exc):
                    raise
                self._mem_v2 = False  # the driver has no _v2; v1 from now on
        return nvml.nvmlDeviceGetMemoryInfo(handle)

    def _util(self, handle: Any) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        except self._nvml.NVMLError:  # not supported (MIG, some vGPUs): unknown, not an error
            return None

    def _processes(self, handle: Any) -> tuple[tuple[int, int | None], ...]:
        """Compute and graphics processes, merged by pid (a process in both is counted once).

        A failed process query leaves the list empty: the ledger then attributes nothing to the
        runs and counts their reservations in full on top of NVML's ``used``, which is safe.
        """
        by_pid: dict[int, int | None] = {}
        for kind in self._process_fns:
            for p in self._query_processes(kind, handle):
                used = p.usedGpuMemory
                old = by_pid.get(int(p.pid))
                by_pid[int(p.pid)] = used if old is None else max(old, used or 0)
        return tuple(sorted(by_pid.items()))

    def _query_processes(self, kind: str, handle: Any) -> list[Any]:
        """The processes of one kind, trying the newest function first and dropping missing ones."""
        nvml = self._nvml
        names = self._process_fns[kind]
        mismatch = getattr(nvml, "NVMLLibraryMismatchError", ())
        while names:
            fn = getattr(nvml, names[0], None)
            if fn is not None:
                try:
                    return list(fn(handle))
                except mismatch:  # the driver is older than the binding's default version
                    pass
                except nvml.NVMLError as exc:
                    if not _is_missing(nvml, exc, not_supported=False):
                        return []
            names.pop(0)  # this version is missing here: use the next, older one from now on
        return []


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _is_missing(nvml: Any, exc: Exception, *, not_supported: bool = True) -> bool:
    """Whether an NVMLError says the function or struct version is not there (use an older one)."""
    codes = [
        getattr(nvml, "NVML_ERROR_FUNCTION_NOT_FOUND", 13),
        getattr(nvml, "NVML_ERROR_ARGUMENT_VERSION_MISMATCH", 25),
    ]
    if not_supported:
        codes.append(getattr(nvml, "NVML_ERROR_NOT_SUPPORTED", 3))
    return getattr(exc, "value", None) in codes


def _nvml_text(nvml: Any, exc: Exception) -> str:
    hints = {
        getattr(nvml, "NVML_ERROR_LIBRARY_NOT_FOUND", 12): "no NVIDIA driver on this machine?",
        getattr(nvml, "NVML_ERROR_DRIVER_NOT_LOADED", 9): "the NVIDIA driver is not running",
        getattr(nvml, "NVML_ERROR_NO_PERMISSION", 4): "no permission to use the NVIDIA devices",
    }
    hint = hints.get(getattr(exc, "value", None))
    return f"{exc}: {hint}" if hint else str(exc)


# ---------------------------------------------------------------------------------------------
# the fake probe

FAKE_FORMAT = "orchestra-fake-gpus/1"
_FAKE_ITEM = re.compile(r"^\s*(?:(\d+)\s*[x*]\s*)?([0-9.]+\s*[A-Za-z]*)\s*$")
_DEVICE_STATES = ("ok", "error", "gone")

Device = int | str  # a device index, or its UUID


def parse_fake_spec(spec: str) -> list[int]:
    """Device sizes from ``"4x24GiB"``, ``"2x80GiB,1x16GiB"`` or ``"24GiB"`` (one device)."""
    totals: list[int] = []
    for item in spec.split(","):
        m = _FAKE_ITEM.match(item)
        size = None
        if m:
            with contextlib.suppress(UserError):
                size = parse_bytes(m.group(2))
        if m is None or size is None:
            raise UserError(
                f"fake GPUs {spec!r}: write COUNTxSIZE items joined by commas, e.g. 4x24GiB or 2x80GiB,1x16GiB"
            )
        count = int(m.group(1) or 1)
        if not 1 <= count <= 64:
            raise UserError(f"fake GPUs {spec!r}: a count must be between 1 and 64, got {count}")
        totals += [size] * count
    if len(totals) > 64:
        raise UserError(f"fake GPUs {spec!r}: at most 64 devices, got {len(totals)}")
    return totals


def fake_uuid(index: int) -> str:
    """The UUID of fake device ``index``: shaped like NVML's, and plainly fake."""
    return f"GPU-fa4e0000-0000-0000-0000-{index:012x}"


def _initial_state(spec: str) -> dict[str, Any]:
    devices = [
        {
            "index": i,
            "uuid": fake_uuid(i),
            "name": f"Fake GPU {format_bytes(total)}",
            "total": total,
            "extra_used": 0,
            "util": 0.0,
            "state": "ok",
            "processes": [],
        }
        for i, total in enumerate(parse_fake_spec(spec))
    ]
    return {"format": FAKE_FORMAT, "devices": devices}


class FakeProbe:
    """A probe of pretend devices that tests (and other processes, through a file) script.

    >>> probe = FakeProbe("2x24GiB")
    >>> probe.set_process(1, pid=4242, used=6 << 30)   # someone uses 6GiB on GPU 1
    >>> probe.fail(0)                                   # GPU 0 errors on the next reads
    >>> probe.restore(0)

    With ``path`` the state lives in that JSON file (written now, re-read on every read), so a
    different process can change it: ``FakeProbe.attach(path)`` opens an existing one.
    Devices are named by index or UUID in every scripting method.
    """

    def __init__(self, spec: str, path: str | os.PathLike[str] | None = None) -> None:
        self.reason: str | None = None
        self.path = None if path is None else Path(path)
        self._state = _initial_state(spec)
        if self.path is not None:
            with self._locked():
                write_json(self.path, self._state)

    @classmethod
    def attach(cls, path: str | os.PathLike[str]) -> FakeProbe:
        """The fake whose state file ``path`` another process wrote with ``FakeProbe(spec, path=...)``."""
        probe = cls.__new__(cls)
        probe.reason = None
        probe.path = Path(path)
        probe._state = {}
        probe._load()
        return probe

    # reading

    def read(self) -> list[GpuReading]:
        state = self._load()
        out = []
        for d in state["devices"]:
            if d["state"] == "gone":
                continue
            if d["state"] == "error":
                out.append(GpuReading(d["index"], d["uuid"], d["name"], ok=False, error="fake: device error"))
                continue
            procs = tuple(
                sorted(
                    (int(p[0]), None if p[1] is None else int(p[1]))
                    for p in d["processes"]
                    if not (len(p) > 2 and p[2] and not _alive(int(p[0])))
                )
            )
            used = min(d["total"], d["extra_used"] + sum(b or 0 for _, b in procs))
            out.append(
                GpuReading(
                    d["index"], d["uuid"], d["name"], d["total"], used, d["total"] - used, d["util"], procs
                )
            )
        return out

    def close(self) -> None:
        pass

    # scripting

    def set_process(self, device: Device, pid: int, used: int | None, *, real: bool = False) -> None:
        """Process ``pid`` now uses ``used`` bytes on ``device`` (None: NVML cannot tell).

        ``real=True`` marks a process of this machine: like the driver, the fake frees its memory
        when it exits.
        """
        entry: list[Any] = [pid, used, True] if real else [pid, used]

        def change(d: dict[str, Any]) -> None:
            d["processes"] = [p for p in d["processes"] if p[0] != pid] + [entry]

        self._change(device, change)

    def end_process(self, pid: int) -> None:
        """Process ``pid`` is gone from every device (its memory is free again)."""

        def change(state: dict[str, Any]) -> None:
            for d in state["devices"]:
                d["processes"] = [p for p in d["processes"] if p[0] != pid]

        self._mutate(change)

    def set_extra_used(self, device: Device, used: int) -> None:
        """Memory in use on ``device`` by no listed process (another container, the driver)."""
        self._change(device, lambda d: d.update(extra_used=used))

    def set_util(self, device: Device, util: float | None) -> None:
        self._change(device, lambda d: d.update(util=util))

    def fail(self, device: Device) -> None:
        """The device errors on every read (``ok=False``) until :meth:`restore`."""
        self._change(device, lambda d: d.update(state="error"))

    def vanish(self, device: Device) -> None:
        """The device is no longer reported at all until :meth:`restore`."""
        self._change(device, lambda d: d.update(state="gone"))

    def restore(self, device: Device) -> None:
        self._change(device, lambda d: d.update(state="ok"))

    # state

    def _change(self, device: Device, fn: Callable[[dict[str, Any]], None]) -> None:
        self._mutate(lambda state: fn(_find(state, device)))

    def _mutate(self, fn: Callable[[dict[str, Any]], None]) -> None:
        if self.path is None:
            fn(self._state)
            return
        with self._locked():
            state = self._load()
            fn(state)
            write_json(self.path, state)

    def _load(self) -> dict[str, Any]:
        if self.path is None:
            return self._state
        try:
            state = read_json(self.path)
        except FileNotFoundError:
            raise UserError(
                f"{self.path}: no fake GPU state here; write one with FakeProbe(spec, path=...)"
            ) from None
        if not isinstance(state, dict) or state.get("format") != FAKE_FORMAT:
            raise UserError(f"{self.path}: not a fake GPU state file ({FAKE_FORMAT})")
        return state

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        assert self.path is not None
        with open(f"{self.path}.lock", "a") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            yield


def _find(state: dict[str, Any], device: Device) -> dict[str, Any]:
    for d in state["devices"]:
        if device in (d["index"], d["uuid"]):
            return d
    raise ValueError(f"no fake GPU {device!r}")


def fake_allocate(path: str | os.PathLike[str], used: int | None, *, pid: int | None = None) -> None:
    """From inside a run: this process now uses ``used`` bytes on its first visible fake GPU.

    The device is the first UUID in ``CUDA_VISIBLE_DEVICES`` (what orchestra gave the run), the
    pid defaults to the caller's own. ``used=0`` still lists the process, as CUDA would after
    creating a context.
    """
    visible = [u for u in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if u]
    if not visible:
        raise RuntimeError("fake_allocate: this process was given no GPU (CUDA_VISIBLE_DEVICES is empty)")
    FakeProbe.attach(path).set_process(visible[0], os.getpid() if pid is None else pid, used, real=True)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (its GPU memory would be freed)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :][:1] not in (b"Z", b"X")


# ---------------------------------------------------------------------------------------------
# choosing a probe


# the device nodes NVML opens: Linux's NVIDIA driver, or WSL's GPU paravirtualisation
NVIDIA_DEVICE_NODES = ("/dev/nvidiactl", "/dev/dxg")


def nvidia_device_present() -> bool:
    """Whether NVML could find a GPU here at all (its device node is there): where not, a sweep that
    asks for no GPU need not load it (7 ms of imports, more for NVML's own start)."""
    return any(os.path.exists(node) for node in NVIDIA_DEVICE_NODES)


def make_probe(spec: str = "auto") -> Probe:
    """A probe from a spec: ``auto`` (NVML), ``none``, ``fake:4x24GiB`` or ``fake:PATH``."""
    if spec == "auto":
        return NvmlProbe()
    if spec == "none":
        return NullProbe("GPUs are turned off (--gpus none)")
    if spec.startswith("fake:"):
        return fake_probe(spec[len("fake:") :])
    raise UserError(
        f"GPU probe {spec!r} is not one of auto, none, fake:SPEC (e.g. fake:4x24GiB) or fake:PATH"
    )


def fake_probe(arg: str) -> FakeProbe:
    """``--fake-gpus`` ARG: a device spec such as ``4x24GiB``, or the path of a fake state file."""
    if os.sep in arg or arg.endswith(".json"):
        return FakeProbe.attach(arg)
    return FakeProbe(arg)
