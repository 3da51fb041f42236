"""What a run records about where and how it ran (``metadata.json``), and the per-sweep ``launch/``.

``metadata.json`` starts with garage's two keys, ``githash`` (HEAD, plus ``-dirty`` when
``git status`` lists anything, untracked files included) and ``launcher`` (the sweep file,
relative to its repository's root; absolute when it is not in a repository), then adds host,
Python, packages, GPUs, times, the config's hash and the environment with secrets redacted.

Kept cheap because every run pays it: two git processes run side by side, package versions are
read from ``*.dist-info`` directory names on ``sys.path`` (importlib.metadata costs ~50 ms to
import), nothing is imported to learn its version.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from orchestra import __version__
from orchestra.atomic import temp_name, write_bytes
from orchestra.rundir import SweepDir, read_json_or_none, write_json
from orchestra.space.values import content_hash

PACKAGES = ("torch", "numpy", "jax", "gymnasium")
SECRET_MARKERS = (
    "KEY",
    "TOKEN",
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "PASS",
    "CREDENTIAL",
    "AUTH",
    "PRIVATE",
    "COOKIE",
    "SESSION",
)
REDACTED = "<redacted>"
EIGHT_MEBIBYTES = 8 * 2**20
GIT_TIMEOUT = 10.0  # seconds a run waits for git before recording no githash
GIT_JSON = "git.json"
DIFF_PATCH = "diff.patch"
LAUNCH_ARCHIVE = "launch_archive.tar.xz"

_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^/\s:@]*):[^/\s@]*@")


def git_info(
    launcher: str | os.PathLike[str], timeout: float = GIT_TIMEOUT
) -> tuple[str | None, dict[str, str]]:
    """garage's ``get_metadata`` for ``launcher``: ``(repo root or None, {"githash", "launcher"})``.

    A git that does not answer within ``timeout`` seconds (a hung network mount) counts as none.
    """
    path = os.path.abspath(launcher)
    directory = os.path.dirname(path)
    try:
        rev = _git(["rev-parse", "--show-toplevel", "HEAD"], directory)
        status = _git(["status", "--porcelain"], directory)
        rev_out = _finish(rev, timeout)[0]
        status_out, status_code = _finish(status, timeout)
    except OSError:  # no git, or the directory vanished
        return None, {"launcher": path}
    lines = rev_out.splitlines()
    root = lines[0] if lines and os.path.isdir(lines[0]) else None
    if root is None:
        return None, {"launcher": path}
    info: dict[str, str] = {}
    head = lines[1] if len(lines) > 1 and re.fullmatch(r"[0-9a-f]{40,64}", lines[1]) else None
    if head is not None:  # a repository without commits has no HEAD
        info["githash"] = head + ("-dirty" if status_code != 0 or status_out.strip() else "")
    info["launcher"] = os.path.relpath(path, root)
    return root, info


def _git(args: list[str], cwd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["git", *args],
        cwd=cwd,
        env=_git_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _git_env() -> dict[str, str]:
    # git status must not take index.lock: many runs may ask at once, and so may the user's own git.
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[str, int]:
    """The output and status of a git process; a git that hangs (a dead network mount) is killed."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return "", -1
    return out.decode("utf-8", "replace"), proc.returncode


def package_versions(names: Iterable[str] = PACKAGES) -> dict[str, str]:
    """Installed versions of ``names``, read from ``*.dist-info``/``*.egg-info`` names on ``sys.path``."""
    wanted = {_normalise(n): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            listing = os.listdir(entry or ".")
        except OSError:
            continue
        for name in listing:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist, _, rest = name.rsplit(".", 1)[0].partition("-")
            key = wanted.get(_normalise(dist))
            if key is not None and key not in found and rest:
                found[key] = rest.split("-")[0]
    return found


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def redact_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment with secrets hidden: values of names that look secret, passwords in URLs."""
    out = {}
    for name in sorted(env):
        upper = name.upper()
        if any(marker in upper for marker in SECRET_MARKERS):
            out[name] = REDACTED
        else:
            out[name] = _URL_PASSWORD.sub(rf"\1:{REDACTED}@", env[name])
    return out


def launcher_of(sweep: SweepDir) -> str | None:
    """The sweep file that launched ``sweep``: from ``launch/git.json``, else from ``sweep.json``."""
    for path in (sweep.launch / GIT_JSON, sweep.sweep_json):
        record = read_json_or_none(path)
        if isinstance(record, dict):
            launcher = record.get("launcher_path") or record.get("sweep_file")
            if isinstance(launcher, str):
                return launcher
    return None


def run_metadata(
    *,
    launcher: str | None,
    config: Mapping[str, Any],
    run: Mapping[str, Any],
    attempt: int,
    started_at: float,
) -> dict[str, Any]:
    """The content of a run's ``metadata.json`` (``ended_at`` is added when the run ends)."""
    info = git_info(launcher)[1] if launcher else {}
    uname = os.uname()
    gpus = _json_list(os.environ.get("ORCHESTRA_GPUS"))
    return {
        **info,
        "orchestra_version": __version__,
        "sweep": run.get("sweep"),
        "run": f"{run.get('variant')}/{run.get('seed')}",
        "attempt": attempt,
        "config_hash": content_hash(config),
        "variant_key": run.get("key"),
        "started_at": started_at,
        "ended_at": None,
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
        "gpus": gpus,
        "packages": package_versions(),
        "env": redact_env(os.environ),
    }


def _json_list(text: str | None) -> list[Any]:
    if not text:
        return []
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return [text]
    return value if isinstance(value, list) else [value]


def write_launch(sweep_dir: SweepDir, launcher: Path, archive: bool) -> list[str]:
    """Record, once per ``orchestra up``, what launched the sweep; returns warning lines.

    Writes ``launch/git.json`` (githash, launcher, their absolute paths), ``launch/diff.patch``
    (``git diff HEAD --binary`` of the launching repository: apply it to the recorded commit to get
    the tracked files as they were) and, when ``archive``, garage's ``launch_archive.tar.xz``.
    """
    launcher = Path(launcher).resolve()
    root, info = git_info(launcher)
    sweep_dir.launch.mkdir(parents=True, exist_ok=True)
    write_json(sweep_dir.launch / GIT_JSON, {**info, "launcher_path": str(launcher), "git_root": root})
    warnings: list[str] = []
    if root is not None and "githash" in info:
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--binary"], cwd=root, env=_git_env(), capture_output=True, check=False
        )
        if diff.returncode == 0:
            write_bytes(sweep_dir.launch / DIFF_PATCH, diff.stdout)
        else:
            warnings.append(f"launch: `git diff HEAD` failed in {root}; no diff.patch recorded")
    if archive:
        if root is None:
            warnings.append(f"launch: {launcher} is not in a git repository, so no launch archive was made")
        else:
            total, skipped = make_launch_archive(root, sweep_dir.launch / LAUNCH_ARCHIVE)
            if total >= EIGHT_MEBIBYTES:
                warnings.append(
                    f"launch: archiving a launch repo of {total / 2**20:.0f} MiB; this may be slow. "
                    "Set archive_launch_repo=False in the Sweep to skip it."
                )
            if skipped:
                warnings.append(
                    f"launch: left {len(skipped)} file(s) of 8 MiB or more out of the archive: {', '.join(skipped[:3])}"
                )
    return warnings


def make_launch_archive(git_root: str, dest: str | os.PathLike[str]) -> tuple[int, list[str]]:
    """garage's launch archive: tracked and untracked-not-ignored files of ``git_root`` as tar.xz.

    Files of 8 MiB or more are left out. Returns the size of all listed files (garage warns at
    8 MiB) and the names left out. The archive is written to a temp file and renamed into place.
    """
    listing = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "--cached", "-z"],
        cwd=git_root,
        env=_git_env(),
        capture_output=True,
        check=True,
    ).stdout
    total = 0
    keep: list[bytes] = []
    skipped: list[str] = []
    for name in dict.fromkeys(f for f in listing.split(b"\0") if f):  # a conflicted file is listed twice
        try:
            size = os.stat(os.path.join(os.fsencode(git_root), name)).st_size
        except FileNotFoundError:  # deleted but still tracked
            continue
        total += size
        if size < EIGHT_MEBIBYTES:
            keep.append(name)
        else:
            skipped.append(os.fsdecode(name))
    dest = os.fspath(dest)
    tmp = temp_name(dest)
    try:
        subprocess.run(
            ["tar", "--null", "--files-from", "-", "--xz", "--create", "--file", tmp],
            input=b"\0".join(keep),
            cwd=git_root,
            check=True,
        )
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return total, skipped
