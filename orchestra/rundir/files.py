"""Opening a sweep's run files without following planted symbolic links.

Everything below a sweep directory is orchestra's own: ``runs/``, each ``<variant>/<seed>/`` run
directory, the files in it and ``snapshots/``. orchestra never makes a link there, so a link found
there was planted (a careless copy, a script, someone with write access to the sweep), and
following it would make the orchestrator or the run write outside the sweep, or unpickle (run!)
a file from elsewhere. The sweep directory itself may be reached through links
(``sweeps -> /scratch/sweeps`` is fine); below it every directory is opened with
``O_NOFOLLOW | O_DIRECTORY`` relative to its parent's descriptor and every file with ``O_NOFOLLOW``
relative to its directory's descriptor, so a link swapped in after a check is not followed either.

For the orchestrator (backends, the scheduler)::

    ensure_run_dir(run_dir)                     # before each attempt: make what is missing, refuse links
    fd = open_run_file(run_dir, OUTPUT_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)   # the run's stdout
    try:
        ...  # hand fd to the child
    finally:
        os.close(fd)

For the run's own process: :class:`RunFiles` holds its run directory (and its sweep directory)
open and reads, writes and replaces files relative to them.

Each refusal is a :class:`PlantedLinkError` (a ``RunDirError``: one line that names the path and
what to do). Files are created ``0o644`` and directories ``0o755`` whatever the umask says: a
group- or world-writable sweep would let others change what the runs execute.
"""

from __future__ import annotations

import errno
import os
import stat

from orchestra.atomic import FILE_MODE, write_bytes
from orchestra.errors import RunDirError
from orchestra.rundir.names import RUNS, SWEEP_JSON

DIR_MODE = 0o755
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class PlantedLinkError(RunDirError):
    """A path below a sweep directory that is a symbolic link, or not the kind of file it must be."""


def ensure_run_dir(run_dir: str | os.PathLike[str], *, create: bool = True) -> None:
    """Check that ``<sweep>/runs/<variant>/<seed>`` has no link on its way down; make what is missing.

    Raises :class:`PlantedLinkError` for a link (or a file) where a directory belongs, and
    ``RunDirError`` when the path is not a run directory of a sweep.
    """
    sweep, parts = _split(run_dir)
    os.close(_open_chain(sweep, parts, create=create))


def open_run_file(
    run_dir: str | os.PathLike[str], name: str, flags: int, mode: int = FILE_MODE, *, create_dir: bool = False
) -> int:
    """Open file ``name`` of a run directory without following links; returns the descriptor.

    The descriptor is close-on-exec (hand it to a child through ``stdout=``/``pass_fds``, which
    duplicate it) and must be closed by the caller. The file must be a regular file: a link, a
    FIFO or a device is refused with :class:`PlantedLinkError`. ``create_dir`` makes the run
    directory first, as :func:`ensure_run_dir` does.
    """
    sweep, parts = _split(run_dir)
    dir_fd = _open_chain(sweep, parts, create=create_dir)
    try:
        return _open_file(dir_fd, name, flags, mode, os.path.join(os.fspath(run_dir), name))
    finally:
        os.close(dir_fd)


class RunFiles:
    """A run directory held open by descriptor, for the run's own process.

    Opening it checks the contract: the directory is ``<sweep>/runs/<variant>/<seed>`` of a
    sweep (a ``sweep.json`` beside ``runs/``), reached from the sweep directory without a link.
    Files are then read, written and replaced relative to the held descriptors.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = os.path.abspath(os.fspath(run_dir))
        sweep, parts = _split(self.path)
        self.sweep_path = sweep
        self.variant, self.seed = parts[1], parts[2]
        self.sweep_fd = os.open(
            sweep, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
        )  # may be reached via links
        try:
            if not _is_regular(self.sweep_fd, SWEEP_JSON):
                raise RunDirError(
                    f"{run_dir}: not the directory of a run (<sweep>/{RUNS}/<variant>/<seed> below a "
                    f"{SWEEP_JSON}); runs are started by `orchestra up`"
                )
            self.fd = _open_chain(sweep, parts, create=False, base=self.sweep_fd)
        except BaseException:
            os.close(self.sweep_fd)
            raise

    def join(self, name: str) -> str:
        return os.path.join(self.path, name)

    def open(self, name: str, flags: int, mode: int = FILE_MODE) -> int:
        """A descriptor of run file ``name`` (regular files only, never through a link)."""
        return _open_file(self.fd, name, flags, mode, self.join(name))

    def open_in_sweep(self, name: str, flags: int) -> int:
        """A descriptor of the sweep directory's file ``name`` (``payload.pkl``), never through a link."""
        return _open_file(self.sweep_fd, name, flags, FILE_MODE, os.path.join(self.sweep_path, name))

    def read_bytes(self, name: str) -> bytes:
        """The content of run file ``name``."""
        with open(self.open(name, os.O_RDONLY), "rb") as f:
            return f.read()

    def replace(self, name: str, data: bytes, *, durable: bool = True, sync_dir: bool = True) -> None:
        """Replace run file ``name`` atomically (see :mod:`orchestra.atomic` for the two fsyncs)."""
        write_bytes(name, data, durable=durable, sync_dir=sync_dir, dir_fd=self.fd)

    def unlink(self, name: str) -> None:
        """Remove run file ``name`` if it is there (a link is removed, never followed)."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def open_dir(self, name: str, *, create: bool) -> int | None:
        """A descriptor of subdirectory ``name`` (``snapshots``), or None when it is missing.

        A link or a file in its place is refused; ``create`` makes it (``0o755``) when missing.
        """
        try:
            return _open_child_dir(self.fd, name, create, self.join(name))
        except FileNotFoundError:
            return None

    def close(self) -> None:
        for fd in (self.fd, self.sweep_fd):
            try:
                os.close(fd)
            except OSError:
                pass


def open_dir_nofollow(parent_fd: int, name: str, *, create: bool, where: str) -> int:
    """Open directory ``name`` of ``parent_fd`` without following a link (made ``0o755`` if asked)."""
    return _open_child_dir(parent_fd, name, create, where)


def open_file_nofollow(dir_fd: int, name: str, flags: int, *, where: str, mode: int = FILE_MODE) -> int:
    """Open regular file ``name`` of ``dir_fd`` without following a link."""
    return _open_file(dir_fd, name, flags, mode, where)


def _split(run_dir: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """``(sweep directory, [runs, variant, seed])`` of a run directory's path."""
    text = os.fspath(run_dir)
    path = os.path.abspath(text)
    seed_dir = path
    variant_dir = os.path.dirname(seed_dir)
    runs_dir = os.path.dirname(variant_dir)
    parts = [os.path.basename(runs_dir), os.path.basename(variant_dir), os.path.basename(seed_dir)]
    if parts[0] != RUNS or any(p in ("", ".", "..") for p in parts) or ".." in text.split(os.sep):
        raise RunDirError(
            f"{text}: not the directory of a run (<sweep>/{RUNS}/<variant>/<seed>); runs are started by `orchestra up`"
        )
    return os.path.dirname(runs_dir), parts


def _open_chain(sweep: str, parts: list[str], *, create: bool, base: int | None = None) -> int:
    fd = base if base is not None else os.open(sweep, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    where = sweep
    try:
        for name in parts:
            where = os.path.join(where, name)
            child = _open_child_dir(fd, name, create, where)
            if fd != base:
                os.close(fd)
            fd = child
    except BaseException:
        if fd != base:
            os.close(fd)
        raise
    return fd


def _open_child_dir(parent_fd: int, name: str, create: bool, where: str) -> int:
    for _ in range(3):  # a concurrent mkdir or rmdir may move the ground once or twice
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, DIR_MODE, dir_fd=parent_fd)
            except FileExistsError:
                pass
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise _refusal(parent_fd, name, where, "a directory") from None
            raise
    return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _open_file(dir_fd: int, name: str, flags: int, mode: int, where: str) -> int:
    # O_NONBLOCK: opening a planted FIFO must fail below, not hang until someone opens its other end
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _refusal(dir_fd, name, where, "a regular file") from None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refusal(dir_fd, name, where, "a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _is_regular(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _refusal(dir_fd: int, name: str, where: str, should_be: str) -> PlantedLinkError:
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return PlantedLinkError(f"{where}: is not {should_be}; remove it and start again")
    if stat.S_ISLNK(st.st_mode):
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            target = "?"
        return PlantedLinkError(
            f"{where}: is a symbolic link (to {target}); orchestra never follows links inside a sweep "
            "directory, which could make it write or load files outside the sweep: remove the link"
        )
    return PlantedLinkError(f"{where}: is not {should_be}; remove it and start again")
