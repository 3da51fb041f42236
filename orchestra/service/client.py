"""Clients of a sweep's control socket: one-shot requests (the CLI) and :class:`RemoteSweep` (a dashboard).

:class:`RemoteSweep` keeps a copy of the service's table, filled by the ``watch`` feed (a full
snapshot, then the changed rows), and has the face of :class:`~orchestra.tui.source.SweepSource`:
an attached dashboard shows exactly what the in-process one does.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from orchestra.rundir import SweepDir
from orchestra.scheduler.commands import Command, Reply
from orchestra.scheduler.gpu import GpuView
from orchestra.scheduler.table import RunRow, Snapshot
from orchestra.service.oneshot import ServiceError, cannot_connect, check_hello, hello_message, no_service
from orchestra.service.protocol import MAX_LINE, ProtocolError, decode, encode, short_path, socket_path

__all__ = ["Connection", "RemoteSweep", "ServiceError", "connect"]


class Connection:
    """A connection to a sweep's service after a successful hello (:attr:`info` is its answer)."""

    def __init__(self, stream: SocketStream, info: dict[str, Any]) -> None:
        self.stream = stream
        self.reader = BufferedByteReceiveStream(stream)
        self.info = info
        self._next = 1

    def next_id(self) -> int:
        self._next += 1
        return self._next

    async def send(self, message: dict[str, Any]) -> None:
        await self.stream.send(encode(message))

    async def receive(self) -> dict[str, Any]:
        try:
            return decode(await self.reader.receive_until(b"\n", MAX_LINE))
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
            raise ServiceError("the sweep's service closed the connection (it ended, or was killed)") from exc

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and return its response (no watch may run on this connection)."""
        rid = self.next_id()
        await self.send({**message, "id": rid})
        while True:
            answer = await self.receive()
            if answer.get("id") == rid:
                if not answer.get("ok", False):
                    raise ServiceError(f"the sweep's service refused: {answer.get('error')}")
                return answer

    async def aclose(self) -> None:
        await self.stream.aclose()


@asynccontextmanager
async def connect(sweep_dir: str | os.PathLike[str], client: str = "cli") -> AsyncIterator[Connection]:
    """A connection to the live service of ``sweep_dir``; ServiceError when there is none (or it refuses)."""
    error = no_service(sweep_dir)
    if error is not None:
        raise error
    target, fd = short_path(socket_path(sweep_dir))
    try:
        stream = await anyio.connect_unix(target)
    except OSError as exc:
        raise cannot_connect(sweep_dir, exc) from None
    finally:
        if fd is not None:
            os.close(fd)
    async with stream:
        try:
            await stream.send(encode(hello_message(client)))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the service answered and closed at once (a refusal): read what it said
        reader = BufferedByteReceiveStream(stream)
        try:
            hello = decode(await reader.receive_until(b"\n", MAX_LINE))
        except (anyio.IncompleteRead, anyio.EndOfStream, anyio.BrokenResourceError, ProtocolError) as exc:
            raise ServiceError(f"{os.fspath(sweep_dir)}: the service did not answer hello ({exc})") from None
        check_hello(sweep_dir, hello)
        conn = Connection(stream, hello)
        conn.reader = reader
        yield conn


class RemoteSweep:
    """A sweep's live service, as a dashboard's source (see the module docstring).

    Run :meth:`follow` in a task (it ends when the sweep ends or the connection drops); until its
    first snapshot arrived, :attr:`ready` is unset.
    """

    def __init__(self, sweep_dir: SweepDir, *, interval: float = 0.25, hold: bool = True) -> None:
        self.sweep_dir = sweep_dir
        self.interval = interval
        self.hold = hold
        self.info: dict[str, Any] = {}
        self.version = 0
        self.exit_code: int | None = None
        self.summary_line = ""  # the service's last word: "12 runs in 3m: 12 completed"
        self.lost: str | None = None  # why the connection ended early
        self.ready = anyio.Event()
        self._rows: dict[str, RunRow] = {}
        self._flags: dict[str, Any] = {}
        self._gpus: list[GpuView] = []
        self._ended = False
        self._conn: Connection | None = None
        self._waiting: dict[int, tuple[anyio.Event, list[dict[str, Any]]]] = {}
        self._snap: Snapshot | None = None

    @property
    def done(self) -> bool:
        return self._ended

    def snapshot(self) -> Snapshot:
        if self._snap is None or self._snap.version != self.version:
            self._snap = Snapshot.with_flags(
                self.version, tuple(self._rows.values()), {**self._flags, "done": self._ended}
            )
        return self._snap

    def gpu_views(self) -> Sequence[GpuView]:
        return self._gpus

    async def send(self, command: Command) -> list[Reply]:
        conn = self._conn
        if conn is None or self._ended:
            raise ServiceError("not connected to the sweep's service")
        rid = conn.next_id()
        event = anyio.Event()
        box: list[dict[str, Any]] = []
        self._waiting[rid] = (event, box)
        await conn.send({"id": rid, "op": "command", "command": command.op.value, "runs": list(command.runs)})
        with anyio.fail_after(30):
            await event.wait()
        if not box:
            raise ServiceError(self.lost or "the sweep's service closed the connection")
        answer = box[0]
        if not answer.get("ok"):
            raise ServiceError(f"the sweep's service refused: {answer.get('error')}")
        return [Reply.from_json(r) for r in answer["replies"]]

    async def follow(self) -> None:
        """Connect, watch, and keep the table up to date until the sweep ends or the connection drops."""
        try:
            async with connect(self.sweep_dir.path, client="dashboard") as conn:
                self._conn = conn
                self.info = conn.info
                await conn.send({"id": 2, "op": "watch", "interval": self.interval, "hold": self.hold})
                while not self._ended:
                    self._apply(await conn.receive())
        except ServiceError as exc:
            self.lost = str(exc)
        finally:
            self._conn = None
            self._ended = True
            self.version += 1
            self.ready.set()
            for event, _ in self._waiting.values():
                event.set()

    def _apply(self, message: dict[str, Any]) -> None:
        feed = message.get("feed")
        if feed is None:
            waiter = self._waiting.pop(message.get("id"), None)  # type: ignore[arg-type]
            if waiter is not None:
                waiter[1].append(message)
                waiter[0].set()
            return
        if feed == "end":
            self.exit_code = message.get("exit_code")
            self.summary_line = str(message.get("line") or "")
            self._ended = True
            self.version += 1
            return
        if feed == "snapshot":
            self._rows = {}
        grew = False
        for r in message.get("rows", ()):
            row = RunRow.from_json(r)
            grew = grew or row.id not in self._rows
            self._rows[row.id] = row
        if grew:  # a first snapshot, or runs a search added: keep run order
            self._rows = dict(sorted(self._rows.items(), key=lambda kv: kv[1].index))
        if "flags" in message:
            self._flags = message["flags"]
        if "gpus" in message:
            self._gpus = [GpuView.from_json(g) for g in message["gpus"]]
        self.version += 1
        self.ready.set()
