"""Never the same bytes to two runs: a state machine of runs, other users and a lagging driver.

The model is the physical truth of three small GPUs. Runs are placed by the ledger and then, at any
time, allocate anything up to what they were promised, exit, and have their memory freed by the
driver some steps later. Other users allocate politely (never into memory a live run was promised)
and the scheduler refreshes right after, since no ledger can see a change it has not read. Devices
error and come back, the clock runs. After every step, every live run must still be able to grow to
its whole reservation: the sum of live runs' promises, exited runs' leftover memory and other
users' memory fits on each device.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from orchestra.scheduler.gpu import GpuLedger, GpuRequest
from orchestra.scheduler.probe import FakeProbe
from tests.gpu.helpers import FakeClock, GiB, MiB

TOTAL = 8 * GiB
DEVICES = 3
SIZES = [256 * MiB, GiB, 2 * GiB, 3 * GiB, 5 * GiB]


@dataclass
class Run:
    key: str
    pid: int
    promised: dict[int, int]  # device -> bytes the ledger reserved for it
    used: dict[int, int]  # device -> bytes it has allocated
    hidden: bool  # NVML lists its process without bytes (some containers)


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.probe = FakeProbe(f"{DEVICES}x8GiB")
        self.clock = FakeClock()
        self.live: dict[str, Run] = {}
        self.exited: dict[str, Run] = {}  # memory not yet freed by the driver
        self.foreign = [0] * DEVICES
        self.count = 0
        self.ledger = GpuLedger(
            self.probe,
            headroom=128 * MiB,
            release_timeout=10.0,
            clock=self.clock,
            pids_of=lambda key: {self.live[key].pid} if key in self.live else set(),
        )

    # the physical truth

    def occupied(self, device: int, *, promised: bool = True) -> int:
        """Memory that is in use or promised to a live run on ``device``."""
        live = sum(max(r.promised.get(device, 0), r.used.get(device, 0)) for r in self.live.values())
        gone = sum(r.used.get(device, 0) for r in self.exited.values())
        return live + gone + self.foreign[device]

    def sync(self, device: int) -> None:
        """Write the model's device into the fake probe, as NVML would report it."""
        hidden = 0
        for r in (*self.live.values(), *self.exited.values()):
            if device in r.used:
                self.probe.set_process(device, r.pid, None if r.hidden else r.used[device])
                hidden += r.used[device] if r.hidden else 0
        self.probe.set_extra_used(device, hidden)

    # rules

    @rule(mem=st.sampled_from(SIZES), whole=st.integers(0, 2), hidden=st.booleans())
    def place(self, mem: int, whole: int, hidden: bool) -> None:
        self.count += 1
        key = f"r{self.count}"
        req = GpuRequest(gpus=whole, mem=None if whole and mem < GiB else mem)
        grant = self.ledger.place(key, req)
        if grant is None:
            return
        promised = {u_index: u.reserved for u_index, u in self._uses(key)}
        assert set(promised) == {d.index for d in grant.devices}
        if not whole:
            assert promised == {grant.devices[0].index: mem}
        self.live[key] = Run(key, 50_000 + self.count, promised, {}, hidden)

    def _uses(self, key: str) -> list[tuple[int, object]]:
        return [(v.index, u) for v in self.ledger.views() for u in v.runs if u.key == key and not u.releasing]

    @precondition(lambda self: self.live)
    @rule(data=st.data(), fraction=st.floats(0, 1))
    def allocate(self, data: st.DataObject, fraction: float) -> None:
        run = self.live[data.draw(st.sampled_from(sorted(self.live)))]
        device = data.draw(st.sampled_from(sorted(run.promised)))
        run.used[device] = int(run.promised[device] * fraction)
        self.sync(device)

    @precondition(lambda self: self.live)
    @rule(data=st.data(), refresh=st.booleans())
    def exit(self, data: st.DataObject, refresh: bool) -> None:
        run = self.live.pop(data.draw(st.sampled_from(sorted(self.live))))
        self.ledger.release(run.key)
        if run.used:
            self.exited[run.key] = run
        if refresh:
            self.ledger.refresh()

    @precondition(lambda self: self.exited)
    @rule(data=st.data())
    def driver_frees(self, data: st.DataObject) -> None:
        run = self.exited.pop(data.draw(st.sampled_from(sorted(self.exited))))
        self.probe.end_process(run.pid)
        for device in run.used:
            self.sync(device)

    @rule(device=st.integers(0, DEVICES - 1), fraction=st.floats(0, 1))
    def other_user(self, device: int, fraction: float) -> None:
        room = TOTAL - (self.occupied(device) - self.foreign[device])
        self.foreign[device] = int(max(0, room) * fraction)
        self.probe.set_process(device, 1 + device, self.foreign[device])
        self.ledger.refresh()

    @rule()
    def refresh(self) -> None:
        self.ledger.refresh()

    @rule(seconds=st.sampled_from([0.5, 3.0, 12.0]))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(device=st.integers(0, DEVICES - 1), fail=st.booleans())
    def device_errors_or_recovers(self, device: int, fail: bool) -> None:
        if fail:
            self.probe.fail(device)
        else:
            self.probe.restore(device)

    @invariant()
    def no_byte_is_promised_twice(self) -> None:
        for device in range(DEVICES):
            assert self.occupied(device) <= TOTAL, f"GPU {device} is oversubscribed"


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_the_ledger_never_hands_the_same_bytes_to_two_runs = LedgerMachine.TestCase
