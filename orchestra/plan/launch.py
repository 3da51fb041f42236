"""``launch/``: what launched the sweep, recorded once per ``orchestra up`` for every run to reference.

What is the same for every run of a sweep is collected here, by the orchestrator, instead of in
each run's process (where it cost two git processes and a scan of ``sys.path`` per run):

- ``git.json``: garage's ``githash`` (HEAD, plus ``-dirty`` when ``git status`` lists anything,
  untracked files included) and ``launcher`` (the sweep file, relative to its repository's root;
  absolute outside a repository), with ``launcher_path`` and ``git_root``;
- ``packages.json``: installed versions of torch, numpy, jax and gymnasium in the interpreter that
  runs the runs, read from ``*.dist-info`` names on ``sys.path`` (nothing is imported);
- ``diff.patch``: ``git diff HEAD --binary`` of the launching repository (apply it to ``githash``
  to get the tracked files as they were);
- ``launch_archive.tar.xz`` when the sweep asks for it: garage's archive of tracked and
  untracked-not-ignored files, files of 8 MiB or more left out.

Each run's ``metadata.json`` copies ``githash``, ``launcher`` and ``packages`` from here and names
this directory in ``launch``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

from orchestra.atomic import remove_stale_temps, temp_name, write_bytes
from orchestra.rundir import SweepDir, write_json

PACKAGES = ("torch", "numpy", "jax", "gymnasium")
EIGHT_MEBIBYTES = 8 * 2**20
GIT_TIMEOUT = 10.0  # seconds to wait for git before recording no githash (a hung network mount)
GIT_JSON = "git.json"
PACKAGES_JSON = "packages.json"
DIFF_PATCH = "diff.patch"
LAUNCH_ARCHIVE = "launch_archive.tar.xz"


def git_info(
    launcher: str | os.PathLike[str], timeout: float = GIT_TIMEOUT
) -> tuple[str | None, dict[str, str]]:
    """garage's ``get_metadata`` for ``launcher``: ``(repo root or None, {"githash", "launcher"})``.

    A git that does not answer within ``timeout`` seconds (a hung network mount) counts as none.
    """
    path = os.path.abspath(launcher)
    try:
        rev, status = _start_git(os.path.dirname(path))
    except OSError:  # no git, or the directory vanished
        return None, {"launcher": path}
    return _git_result(path, rev, status, timeout)


def _start_git(directory: str) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """``git rev-parse`` and ``git status``, running side by side."""
    rev = _git(["rev-parse", "--show-toplevel", "HEAD"], directory)
    try:
        status = _git(["status", "--porcelain"], directory)
    except OSError:
        rev.kill()
        rev.communicate()
        raise
    return rev, status


def _git_result(
    path: str, rev: subprocess.Popen[bytes], status: subprocess.Popen[bytes], timeout: float
) -> tuple[str | None, dict[str, str]]:
    rev_out = _finish(rev, timeout)[0]
    status_out, status_code = _finish(status, timeout)
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
    # git status must not take index.lock: the user's own git may be running at the same time.
    return {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def _finish(proc: subprocess.Popen[bytes], timeout: float) -> tuple[str, int]:
    """The output and status of a git process; a git that hangs (a dead network mount) is killed."""
    out, code = _finish_bytes(proc, timeout)
    return out.decode("utf-8", "replace"), code


def _finish_bytes(proc: subprocess.Popen[bytes], timeout: float) -> tuple[bytes, int]:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return b"", -1
    return out, proc.returncode


def package_versions(names: Iterable[str] = PACKAGES, path: Iterable[str] | None = None) -> dict[str, str]:
    """Installed versions of ``names``, read from ``*.dist-info``/``*.egg-info`` names on ``path``."""
    wanted = {_normalise(n): n for n in names}
    found: dict[str, str] = {}
    for entry in sys.path if path is None else path:
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


def write_launch(sweep_dir: SweepDir, launcher: Path, archive: bool) -> list[str]:
    """Record what launched the sweep into ``launch/`` (see the module docstring); returns warning lines.

    git runs three processes side by side (``rev-parse``, ``status``, ``diff``), so this costs one
    git's latency, not three.
    """
    launcher = Path(launcher).resolve()
    directory = sweep_dir.launch
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    remove_stale_temps(directory)
    try:
        rev, status = _start_git(str(launcher.parent))
        diff: subprocess.Popen[bytes] | None = _git(["diff", "HEAD", "--binary"], str(launcher.parent))
    except OSError:
        root, info, diff = None, {"launcher": str(launcher)}, None
    else:
        root, info = _git_result(str(launcher), rev, status, GIT_TIMEOUT)
    write_json(directory / PACKAGES_JSON, package_versions(), fsync=False)
    warnings: list[str] = []
    if diff is not None:
        diff_out, diff_code = _finish_bytes(diff, GIT_TIMEOUT)  # paths are the root's wherever git runs
        if root is not None and "githash" in info:
            if diff_code == 0:
                write_bytes(directory / DIFF_PATCH, diff_out, durable=False)
            else:
                warnings.append(f"launch: `git diff HEAD` failed in {root}; no diff.patch recorded")
    # git.json last, and durable: the runs read it, and it says which diff.patch belongs to it
    write_json(directory / GIT_JSON, {**info, "launcher_path": str(launcher), "git_root": root})
    if archive:
        if root is None:
            warnings.append(f"launch: {launcher} is not in a git repository, so no launch archive was made")
        else:
            total, skipped = make_launch_archive(root, directory / LAUNCH_ARCHIVE)
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
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return total, skipped
