"""One request to a sweep's service, blocking, on the standard library's socket: the CLI's commands.

A command line is a new Python process for one exchange, so it pays for every import: this module
needs neither anyio nor asyncio (an event loop is ~25 ms of imports for a 1 ms exchange) nor orjson
(its messages are small), only :mod:`socket` and :mod:`json`; the service resolves the runs a user
named, so no copy of the plan is read either. Dashboards, which follow the feed, use
:mod:`~orchestra.service.client`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from orchestra import __version__
from orchestra.errors import UserError
from orchestra.service.protocol import MAX_LINE, PROTOCOL, ProtocolError, short_path, socket_path

if TYPE_CHECKING:
    from orchestra.scheduler.commands import Command, Reply
    from orchestra.scheduler.table import Snapshot

TIMEOUT = 60.0  # a service that does not answer within this is wedged: say so rather than hang


class ServiceError(UserError):
    """No live service to talk to, or it refused us (one line for the user, exit 2)."""


class NoService(ServiceError):
    """The sweep directory has no control socket: no orchestrator serves it."""


def no_service(sweep_dir: str | os.PathLike[str]) -> ServiceError | None:
    """The error when ``sweep_dir`` has no control socket at all, else None."""
    path = socket_path(sweep_dir)
    if os.path.exists(path):
        return None
    return NoService(f"{os.fspath(sweep_dir)}: no live orchestrator (no {os.path.basename(path)})")


def cannot_connect(sweep_dir: str | os.PathLike[str], exc: OSError) -> ServiceError:
    path = socket_path(sweep_dir)
    return ServiceError(
        f"{os.fspath(sweep_dir)}: no live orchestrator answers on {path} ({exc.strerror or exc})"
    )


def check_hello(sweep_dir: str | os.PathLike[str], hello: dict[str, Any]) -> None:
    """Raise ServiceError unless the service's answer to hello accepts us in our protocol."""
    if not hello.get("ok"):
        raise ServiceError(f"{os.fspath(sweep_dir)}: {hello.get('error')}")
    if hello.get("protocol") != PROTOCOL:
        raise ServiceError(
            f"{os.fspath(sweep_dir)}: its service speaks control protocol {hello.get('protocol')!r} "
            f"(orchestra {hello.get('version')}), this orchestra {__version__} speaks {PROTOCOL}"
        )


def hello_message(client: str) -> dict[str, Any]:
    return {"id": 1, "op": "hello", "protocol": PROTOCOL, "client": client}


def request(
    sweep_dir: str | os.PathLike[str], message: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Say hello to the live service of ``sweep_dir``, send ``message``; its answer and the hello."""
    error = no_service(sweep_dir)
    if error is not None:
        raise error
    target, fd = short_path(socket_path(sweep_dir))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(TIMEOUT)
        try:
            sock.connect(target)
        except OSError as exc:
            raise cannot_connect(sweep_dir, exc) from None
        finally:
            if fd is not None:
                os.close(fd)
        with sock.makefile("rb") as reader:
            try:
                sock.sendall(_encode(hello_message("cli")))
            except OSError:
                pass  # the service answered and closed at once (a refusal): read what it said
            try:
                hello = _line(reader)
            except TimeoutError:
                raise _wedged(sweep_dir) from None
            except (OSError, ProtocolError) as exc:
                raise ServiceError(
                    f"{os.fspath(sweep_dir)}: the service did not answer hello ({exc})"
                ) from None
            check_hello(sweep_dir, hello)
            try:
                sock.sendall(_encode({**message, "id": 2}))
                while True:
                    answer = _line(reader)
                    if answer.get("id") == 2:
                        break
            except TimeoutError:
                raise _wedged(sweep_dir) from None
            except (OSError, ProtocolError) as exc:
                raise ServiceError(
                    f"{os.fspath(sweep_dir)}: the sweep's service closed the connection (it ended, or was "
                    f"killed): {exc}"
                ) from None
    finally:
        sock.close()
    if not answer.get("ok", False):
        if answer.get("bad_input"):
            raise ServiceError(str(answer.get("error")))
        raise ServiceError(f"the sweep's service refused: {answer.get('error')}")
    return answer, hello


def _wedged(sweep_dir: str | os.PathLike[str]) -> ServiceError:
    return ServiceError(f"{os.fspath(sweep_dir)}: its service did not answer within {TIMEOUT:.0f} s")


def _encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _line(reader: Any) -> dict[str, Any]:
    line = reader.readline(MAX_LINE + 1)
    if not line.endswith(b"\n"):
        raise ProtocolError("the connection ended" if not line else "a line longer than the protocol allows")
    try:
        message = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"not a JSON line ({exc})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def send(
    sweep_dir: str | os.PathLike[str],
    op: str,
    *,
    runs: Sequence[str] = (),
    select: Sequence[str] = (),
    states: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Send one command; its replies as JSON. ``runs`` are run ids; ``select`` are RUN words (a
    number, VARIANT/SEED, a unique prefix) and ``states`` state names, resolved by the service
    against its live table (a word that names no run: ServiceError with the service's line)."""
    message: dict[str, Any] = {"op": "command", "command": op, "runs": list(runs)}
    if select or states:
        message.update(select=list(select), states=list(states))
    answer, _ = request(sweep_dir, message)
    replies: list[dict[str, Any]] = answer["replies"]
    return replies


def command(sweep_dir: str | os.PathLike[str], cmd: Command) -> list[Reply]:
    """Send one command to a sweep's live service; its replies."""
    from orchestra.scheduler.commands import Reply

    return [Reply.from_json(r) for r in send(sweep_dir, cmd.op.value, runs=cmd.runs)]


def snapshot(sweep_dir: str | os.PathLike[str]) -> tuple[Snapshot, dict[str, Any]]:
    """The live table of a sweep's service, and its hello (pid, host, ...)."""
    from orchestra.scheduler.table import RunRow, Snapshot

    answer, info = request(sweep_dir, {"op": "snapshot"})
    rows = tuple(RunRow.from_json(r) for r in answer["rows"])
    return Snapshot.with_flags(answer["version"], rows, answer["flags"]), info
