"""What a run records about where and how it ran: ``metadata.json``.

It starts with garage's two keys, ``githash`` and ``launcher``, then adds what the orchestrator
recorded once for the whole sweep in ``launch/`` (``packages``, and ``launch``: that directory),
and what only the run's own process can know: host, pid, Python, platform, GPUs, times, the
config's hash and the environment with secrets redacted (:mod:`orchestra.redact`).

Kept cheap because every run pays it: no git, no subprocess, no scan of ``sys.path`` here (see
:mod:`orchestra.plan.launch`), two small files read through the sweep directory's descriptor.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from orchestra import __version__
from orchestra.errors import RunDirError
from orchestra.redact import redact_env
from orchestra.rundir.files import RunFiles, open_dir_nofollow, open_file_nofollow
from orchestra.rundir.names import LAUNCH, SWEEP_JSON

GIT_JSON = "git.json"  # written by orchestra.plan.launch
PACKAGES_JSON = "packages.json"


def launch_records(files: RunFiles) -> dict[str, Any]:
    """``githash``, ``launcher`` and ``packages`` from the sweep's ``launch/`` (what exists of them).

    Without ``launch/`` (a sweep directory made by hand, or by an older orchestra) the launcher
    is the sweep file named in ``sweep.json``.
    """
    out: dict[str, Any] = {}
    git = _read_launch(files, GIT_JSON)
    if isinstance(git, dict):
        out.update({k: git[k] for k in ("githash", "launcher") if isinstance(git.get(k), str)})
    else:
        plan = _read_json(files, SWEEP_JSON)
        if isinstance(plan, dict) and isinstance(plan.get("sweep_file"), str):
            out["launcher"] = plan["sweep_file"]
    packages = _read_launch(files, PACKAGES_JSON)
    if isinstance(packages, dict):
        out["packages"] = packages
    out["launch"] = os.path.join(files.sweep_path, LAUNCH)
    return out


def run_metadata(
    *,
    launch: Mapping[str, Any],
    run: Mapping[str, Any],
    attempt: int,
    started_at: float,
    start: Mapping[str, Any],
) -> dict[str, Any]:
    """The content of a run's ``metadata.json``; ``run`` is its ``config.json`` record."""
    uname = os.uname()
    return {
        **{k: launch[k] for k in ("githash", "launcher") if k in launch},
        "orchestra_version": __version__,
        "sweep": run.get("sweep"),
        "run": f"{run.get('variant')}/{run.get('seed')}",
        "attempt": attempt,
        "config_hash": run.get("key"),  # the variant's key: the content hash of its config
        "variant_key": run.get("key"),
        "started_at": started_at,
        "start": dict(start),
        "hostname": uname.nodename,
        "pid": os.getpid(),
        "platform": {
            "system": uname.sysname,
            "release": uname.release,
            "version": uname.version,
            "machine": uname.machine,
        },
        "python": {
            "version": sys.version,
            "executable": sys.executable,
            "implementation": sys.implementation.name,
        },
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "device": os.environ.get("ORCHESTRA_DEVICE", "cpu"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "gpus": _json_list(os.environ.get("ORCHESTRA_GPUS")),
        "packages": launch.get("packages", {}),
        "launch": launch.get("launch"),
        "env": redact_env(os.environ),
    }


def _read_launch(files: RunFiles, name: str) -> Any:
    # a link planted in launch/ is not followed; the run goes on without those records
    try:
        dir_fd = open_dir_nofollow(
            files.sweep_fd, LAUNCH, create=False, where=os.path.join(files.sweep_path, LAUNCH)
        )
    except (OSError, RunDirError):
        return None
    try:
        fd = open_file_nofollow(dir_fd, name, os.O_RDONLY, where=os.path.join(files.sweep_path, LAUNCH, name))
    except (OSError, RunDirError):
        return None
    finally:
        os.close(dir_fd)
    return _load(fd)


def _read_json(files: RunFiles, name: str) -> Any:
    try:
        fd = open_file_nofollow(files.sweep_fd, name, os.O_RDONLY, where=os.path.join(files.sweep_path, name))
    except (OSError, RunDirError):
        return None
    return _load(fd)


def _load(fd: int) -> Any:
    with open(fd, "rb") as f:
        try:
            return json.loads(f.read())
        except ValueError:
            return None


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        value = json.loads(text)
    except ValueError:
        return [text]
    return value if isinstance(value, list) else [value]
