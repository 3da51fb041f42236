"""The control socket a live orchestrator serves (the protocol: :mod:`orchestra.service.protocol`).

Every live orchestrator serves it: the detached service, a headless ``up`` and ``--foreground``
alike, so ``orchestra cancel``, ``attach`` and any number of dashboards work against all of them.
The server runs in the orchestrator's event loop beside the scheduler and only ever calls the
scheduler from there: commands are the same :class:`~orchestra.scheduler.commands.Command` data
the in-process dashboard sends.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import SocketAttribute, SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from orchestra import __version__
from orchestra.errors import UserError
from orchestra.present import summary_line
from orchestra.scheduler.commands import Command, Op
from orchestra.scheduler.core import Scheduler
from orchestra.service.protocol import (
    MAX_LINE,
    PROTOCOL,
    ProtocolError,
    decode,
    encode,
    short_path,
    socket_path,
)

if TYPE_CHECKING:
    from orchestra.service.session import Session

Send = Callable[[dict[str, Any]], Awaitable[None]]
END_GRACE = 1.0  # seconds watchers get to receive the 'end' message before the server closes


class ControlServer:
    """Serves one sweep's control socket while :meth:`serving` is entered."""

    def __init__(self, scheduler: Scheduler, sweep_dir: str | os.PathLike[str], info: dict[str, Any]) -> None:
        self.scheduler = scheduler
        self.path = socket_path(sweep_dir)
        self.info = info  # what hello answers besides the protocol: sweep, pid, host, workers
        self._ending = anyio.Event()
        self._connections = 0

    @classmethod
    def for_session(cls, session: Session) -> ControlServer:
        import socket as _socket

        info = {
            "sweep": session.rec.name,
            "dir": str(session.sweep_dir.path),
            "pid": os.getpid(),
            "host": _socket.gethostname(),
            "backend": session.prepared.backend.name,
            "capacity": session.prepared.backend.describe(),
            "workers": getattr(getattr(session.prepared.backend, "slots", None), "total", None),
        }
        return cls(session.scheduler, session.sweep_dir.path, info)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[ControlServer]:
        """Listen on ``control.sock`` (a stale one is replaced: the caller holds the sweep's lock).

        A socket that cannot be made (a full disk, something else in its place) is a PlanError: one
        line, before any run has started.
        """
        from orchestra.plan.prepare import writing

        with writing(self.path, "make the control socket"):
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            bind_path, fd = short_path(self.path)
            try:
                listener = await anyio.create_unix_listener(bind_path)
            finally:
                if fd is not None:
                    os.close(fd)
            os.chmod(self.path, 0o600)
        try:
            async with listener, anyio.create_task_group() as tg:
                tg.start_soon(listener.serve, self._handle)
                try:
                    yield self
                finally:
                    self._ending.set()
                    with anyio.move_on_after(END_GRACE, shield=True):
                        while self._connections:
                            await anyio.sleep(0.02)
                    tg.cancel_scope.cancel()
        finally:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass

    # ------------------------------------------------------------------ one connection

    async def _handle(self, stream: SocketStream) -> None:
        self._connections += 1
        try:
            async with stream:
                await self._converse(stream)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream):
            pass
        finally:
            self._connections -= 1

    async def _converse(self, stream: SocketStream) -> None:
        lock = anyio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await stream.send(encode(message))

        uid = _peer_uid(stream)
        if uid is not None and uid != os.getuid():
            await send({"id": None, "ok": False, "error": f"refused: uid {uid} does not own this sweep"})
            return
        reader = BufferedByteReceiveStream(stream)
        try:
            hello = decode(await reader.receive_until(b"\n", MAX_LINE))
        except (ProtocolError, anyio.IncompleteRead, anyio.DelimiterNotFound) as exc:
            await send({"id": None, "ok": False, "error": f"bad hello: {exc}"})
            return
        if hello.get("op") != "hello" or hello.get("protocol") != PROTOCOL:
            await send(
                {
                    "id": hello.get("id"),
                    "ok": False,
                    "error": f"this sweep's service speaks control protocol {PROTOCOL} (orchestra {__version__}), "
                    f"the client speaks {hello.get('protocol')!r}; use the same orchestra for both",
                }
            )
            return
        await send(
            {"id": hello.get("id"), "ok": True, "protocol": PROTOCOL, "version": __version__, **self.info}
        )
        async with anyio.create_task_group() as tg:
            while True:
                try:
                    line = await reader.receive_until(b"\n", MAX_LINE)
                except (anyio.IncompleteRead, anyio.EndOfStream, anyio.DelimiterNotFound):
                    break
                try:
                    message = decode(line)
                    await self._dispatch(message, send, tg)
                except (ProtocolError, ValueError, KeyError, TypeError) as exc:
                    await send({"id": _id(line), "ok": False, "error": f"bad request: {exc}"})
            tg.cancel_scope.cancel()

    async def _dispatch(self, message: dict[str, Any], send: Send, tg: anyio.abc.TaskGroup) -> None:
        op, rid = message.get("op"), message.get("id")
        if op == "command":
            runs = [str(r) for r in message.get("runs", ())]
            words, states = message.get("select", ()), message.get("states", ())
            if words or states:
                try:
                    runs += [r for r in self._select(words, states) if r not in runs]
                except UserError as exc:  # a RUN or state that names nothing: the client's mistake
                    await send({"id": rid, "ok": False, "error": str(exc), "bad_input": True})
                    return
            replies = self.scheduler.request(Command(Op(message["command"]), tuple(runs)))
            await send({"id": rid, "ok": True, "replies": [r.to_json() for r in replies]})
        elif op == "snapshot":
            await send({"id": rid, "ok": True, **self._full()})
        elif op == "watch":
            interval = min(5.0, max(0.05, float(message.get("interval", 0.25))))
            tg.start_soon(self._watch, rid, send, interval, bool(message.get("hold")))
        else:
            raise ProtocolError(f"unknown op {op!r}")

    def _select(self, words: Any, states: Any) -> list[str]:
        """Run ids for RUN words (as ``orchestra logs`` takes them) and state names, against the live
        table: a command line sends what the user typed and needs no copy of the plan."""
        from orchestra.rundir import check_state_names, resolve_run

        rows = self.scheduler.snapshot().rows
        ids = [resolve_run(rows, str(word)).id for word in words]
        check_state_names(states)
        return ids + [r.id for r in rows if r.state.value in states and r.id not in ids]

    def _full(self) -> dict[str, Any]:
        snap = self.scheduler.snapshot()
        return {
            "feed": "snapshot",
            "version": snap.version,
            "rows": [r.to_json() for r in snap.rows],
            "flags": snap.flags(),
            "gpus": [g.to_json() for g in self.scheduler.gpu_views()],
        }

    async def _watch(self, rid: Any, send: Send, interval: float, hold: bool) -> None:
        scheduler = self.scheduler
        if hold:
            scheduler.hold()
        feed = scheduler.table.feed()
        try:
            full = self._full()
            await send({"id": rid, "ok": True, **full})
            seen, last_flags, last_gpus = full["version"], full["flags"], full["gpus"]
            while True:
                with anyio.move_on_after(interval):
                    await self._ending.wait()
                ending = scheduler.done or self._ending.is_set()  # before the delta: it carries the last rows
                version = scheduler.version
                gpus = [g.to_json() for g in scheduler.gpu_views()]
                if version != seen or gpus != last_gpus:
                    snap_flags = scheduler.snapshot().flags()
                    rows = feed.take()
                    delta: dict[str, Any] = {
                        "id": rid,
                        "feed": "delta",
                        "version": version,
                        "rows": [r.to_json() for r in rows],
                    }
                    if snap_flags != last_flags:
                        delta["flags"] = last_flags = snap_flags
                    if gpus != last_gpus:
                        delta["gpus"] = last_gpus = gpus
                    await send(delta)
                    seen = version
                if ending:
                    summary = scheduler.summary
                    snap = scheduler.snapshot()
                    await send(
                        {
                            "id": rid,
                            "feed": "end",
                            "exit_code": summary.exit_code if summary is not None else None,
                            "line": summary_line(
                                snap,
                                time.time() - snap.started_at,
                                len(summary.unrecorded) if summary is not None else 0,
                            ),
                        }
                    )
                    return
        finally:
            feed.close()
            if hold:
                scheduler.unhold()


def _peer_uid(stream: SocketStream) -> int | None:
    """The uid of the process at the other end (SO_PEERCRED), None where the platform cannot say."""
    sock = stream.extra(SocketAttribute.raw_socket, None)
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _id(line: bytes) -> Any:
    try:
        return decode(line).get("id")
    except ProtocolError:
        return None
