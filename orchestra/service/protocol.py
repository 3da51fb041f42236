"""The control protocol between a sweep's orchestrator and its clients (docs/service.md).

A Unix domain socket ``control.sock`` in the sweep directory (mode 0600; the peer's uid is checked
with ``SO_PEERCRED``). Messages are JSON objects, one per line (orjson), at most :data:`MAX_LINE`
bytes. Every exchange starts with ``hello``, which carries the protocol version; a client or server
speaking another version gets one clear line and the connection closes.

Requests carry an ``id`` that their response repeats::

    {"id": 1, "op": "hello", "protocol": 1, "client": "cli"}
    {"id": 1, "ok": true, "protocol": 1, "sweep": "lr-sweep", "pid": 4242, "host": "gpu3", ...}
    {"id": 2, "op": "command", "command": "cancel", "runs": ["lr=0.1/0"]}
    {"id": 2, "ok": true, "replies": [{"op": "cancel", "action": "stopping", "run": "lr=0.1/0", ...}]}
    {"id": 3, "op": "snapshot"}
    {"id": 3, "ok": true, "feed": "snapshot", "version": 17, "rows": [...], "flags": {...}, "gpus": [...]}
    {"id": 4, "op": "watch", "interval": 0.25, "hold": true}

``watch`` answers with a full ``snapshot`` and then streams ``delta`` messages (the rows changed
since the last one, the sweep's flags, the GPU views when they changed) at most every ``interval``
seconds, and an ``end`` message with the summary when the sweep is over. ``hold`` keeps the
service alive after the last run while this client is connected (a dashboard may still retry).
A failed request answers ``{"id": N, "ok": false, "error": "..."}``.
"""

from __future__ import annotations

import os
from typing import Any

PROTOCOL = 1
SOCKET = "control.sock"
MAX_LINE = 64 << 20  # a snapshot of 100,000 rows fits
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux; longer paths go through /proc/self/fd


class ProtocolError(Exception):
    """The other side broke the protocol (or speaks another version)."""


def encode(message: dict[str, Any]) -> bytes:
    import orjson  # here: a command line's one exchange uses the standard library's json (oneshot)

    return orjson.dumps(message, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)


def decode(line: bytes) -> dict[str, Any]:
    import orjson

    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not a JSON line ({exc})") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a JSON object")
    return message


def socket_path(sweep_dir: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(sweep_dir), SOCKET)


def short_path(path: str) -> tuple[str, int | None]:
    """A path short enough for ``sun_path`` and the directory fd that keeps it valid (or None).

    A socket deep in a tree (pytest's temporary directories, long sweep names) is reached through
    ``/proc/self/fd/<fd of its directory>/control.sock``; the caller closes the fd afterwards.
    """
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path, None
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{os.path.basename(path)}", fd
