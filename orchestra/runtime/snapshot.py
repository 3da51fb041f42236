"""Snapshots with garage's modes, file names and loading rules, written atomically.

Modes (garage's ``Snapshotter``); ``itr`` is the iteration passed to :meth:`Snapshotter.save_itr_params`:

============== =====================================================================
``all``         ``itr_{itr}.pkl`` every call
``last``        ``params.pkl`` every call, replacing the previous one
``gap``         ``itr_{itr}.pkl`` when ``itr % snapshot_gap == 0`` (so iteration 0 is saved)
``gap_and_last`` ``itr_{itr}.pkl`` when ``itr % snapshot_gap == 0``, and ``params.pkl`` every call
``gap_overwrite`` ``params.pkl`` when ``itr % snapshot_gap == 0``
``none``        nothing
============== =====================================================================

Differences from garage, all deliberate: a snapshot file is written to a temp file, fsynced and
renamed, so it is complete or absent (a full disk mid-write leaves the previous snapshot as it
was); ``itr_*`` files are ordered by number, not by name (garage v2020.06 put ``itr_80`` after
``itr_120``); conflicting settings fail when the Snapshotter is made, not at its first save.

``params.pkl`` carries the iteration it was saved at: after the pickled object comes a second,
small pickle ``{"itr": n}``. ``pickle.load``, ``joblib.load`` and garage read the first pickle only,
so the file stays a plain garage snapshot; :meth:`Snapshotter.load_newest` reads both.
"""

from __future__ import annotations

import errno
import os
import pickle
from typing import Any

from orchestra.atomic import atomic_file, remove_stale_temps
from orchestra.errors import UserError
from orchestra.rundir.files import open_dir_nofollow, open_file_nofollow

PARAMS = "params.pkl"
SNAPSHOT_MODES = ("all", "last", "gap", "gap_and_last", "gap_overwrite", "none")


class SnapshotSettingsError(UserError, ValueError):
    """Snapshot settings that contradict each other (garage raises ValueError for these)."""


class NotAFileError(Exception):
    """garage's error for a snapshot path that exists but is not a file, or does not exist."""


def check_snapshot_settings(mode: str, gap: int) -> None:
    """garage's rules: a known mode, ``gap >= 1``, ``last`` only with gap 1, ``gap_overwrite`` with gap > 1.

    Raises :class:`SnapshotSettingsError` (a UserError and, as in garage, a ValueError).
    """
    if mode not in SNAPSHOT_MODES:
        raise SnapshotSettingsError(f"snapshot_mode {mode!r} is not one of {', '.join(SNAPSHOT_MODES)}")
    if isinstance(gap, bool) or not isinstance(gap, int) or gap < 1:
        raise SnapshotSettingsError(f"snapshot_gap must be a positive integer, got {gap!r}")
    if mode == "last" and gap != 1:
        raise SnapshotSettingsError(
            f"snapshot_mode 'last' saves every iteration, so snapshot_gap must be 1 (got {gap})"
        )
    if mode == "gap_overwrite" and gap <= 1:
        raise SnapshotSettingsError(
            "snapshot_mode 'gap_overwrite' needs snapshot_gap > 1; use 'last' to save every iteration"
        )


check_settings = check_snapshot_settings  # the name orchestra.compat.garage calls it by


def itr_file(itr: int) -> str:
    return f"itr_{itr}.pkl"


class Snapshotter:
    """Save and load snapshots in ``snapshot_dir`` (garage's ``Snapshotter``).

    >>> s = Snapshotter("run/snapshots", snapshot_mode="gap", snapshot_gap=10)
    >>> s.save_itr_params(20, {"weights": w})       # writes itr_20.pkl
    >>> s.load("run/snapshots", "last")             # the newest: params.pkl, else the highest itr_N.pkl

    A run's own snapshotter (``ctx``'s) is given ``parent_fd``, its run directory's descriptor:
    it then reaches ``snapshots/`` and every file in it without following a link, refuses a
    ``snapshots`` that is a link, and loads only regular files (:mod:`orchestra.rundir.files`).
    """

    def __init__(
        self,
        snapshot_dir: str | os.PathLike[str] | None = None,
        snapshot_mode: str = "last",
        snapshot_gap: int = 1,
        *,
        create: bool = True,
        parent_fd: int | None = None,
    ) -> None:
        check_settings(snapshot_mode, snapshot_gap)
        if snapshot_dir is None:
            snapshot_dir = os.path.join(os.getcwd(), "data", "local", "experiment")
        self._snapshot_dir = os.fspath(snapshot_dir)
        self._snapshot_mode = snapshot_mode
        self._snapshot_gap = snapshot_gap
        self._parent_fd = parent_fd
        if create:
            os.close(self._open_dir(create=True))

    @property
    def snapshot_dir(self) -> str:
        return self._snapshot_dir

    @property
    def snapshot_mode(self) -> str:
        return self._snapshot_mode

    @property
    def snapshot_gap(self) -> int:
        return self._snapshot_gap

    def files_for(self, itr: int) -> list[str]:
        """The file names a save at ``itr`` writes under this mode (possibly none)."""
        mode, on_gap = self._snapshot_mode, itr % self._snapshot_gap == 0
        if mode == "all":
            return [itr_file(itr)]
        if mode == "last":
            return [PARAMS]
        if mode == "gap":
            return [itr_file(itr)] if on_gap else []
        if mode == "gap_and_last":
            # params.pkl first: a kill between the two writes leaves params.pkl the newest, as it should be
            return [PARAMS, itr_file(itr)] if on_gap else [PARAMS]
        if mode == "gap_overwrite":
            return [PARAMS] if on_gap else []
        return []

    def save_itr_params(self, itr: int, params: Any) -> None:
        """Save ``params`` as the snapshot of iteration ``itr``, if the mode says so."""
        if isinstance(itr, bool) or not isinstance(itr, int) or itr < 0:
            raise TypeError(f"snapshot iteration must be a non-negative integer, got {itr!r}")
        names = self.files_for(itr)
        if not names:
            return
        import cloudpickle  # the run has it loaded already; a sweep file that only declares modes need not

        dir_fd = self._open_dir(create=True)
        try:
            for name in names:
                with atomic_file(name, dir_fd=dir_fd) as f:
                    cloudpickle.dump(params, f, protocol=pickle.HIGHEST_PROTOCOL)
                    if name == PARAMS:
                        pickle.dump({"itr": itr}, f, protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            os.close(dir_fd)

    def load(self, load_dir: str | os.PathLike[str], itr: int | str = "last") -> Any:
        """Load one snapshot from ``load_dir``: iteration ``itr``, or ``'last'``/``'first'``.

        Raises ValueError for another string, FileNotFoundError when ``load_dir`` holds no
        snapshot, and NotAFileError when the requested file is missing or not a file.
        """
        path = _pick(os.fspath(load_dir), itr)
        with open(path, "rb") as f:
            return pickle.load(f)

    def load_newest(self) -> tuple[int | None, Any] | None:
        """``(itr, obj)`` of the newest snapshot in ``snapshot_dir``, or None when there is none.

        ``itr`` is None for a ``params.pkl`` that does not record its iteration (written by garage).
        """
        try:
            dir_fd = self._open_dir(create=False)
        except FileNotFoundError:
            return None
        try:
            name = _newest(os.listdir(dir_fd))
            if name is None:
                return None
            where = os.path.join(self._snapshot_dir, name)
            fd = open_file_nofollow(dir_fd, name, os.O_RDONLY, where=where)
        finally:
            os.close(dir_fd)
        with open(fd, "rb") as f:
            obj = pickle.load(f)
            if name != PARAMS:
                return _itr_of(name), obj
            try:
                trailer = pickle.load(f)
            except EOFError:
                return None, obj
        itr = trailer.get("itr") if isinstance(trailer, dict) else None
        return (itr if isinstance(itr, int) else None), obj

    def remove_stale_temps(self) -> None:
        """Remove temp files of snapshot writes that a killed attempt left behind."""
        try:
            dir_fd = self._open_dir(create=False)
        except FileNotFoundError:
            return
        try:
            remove_stale_temps(dir_fd)
        finally:
            os.close(dir_fd)

    def _open_dir(self, *, create: bool) -> int:
        """A descriptor of the snapshot directory (FileNotFoundError when missing and not ``create``)."""
        if self._parent_fd is not None:
            name = os.path.basename(self._snapshot_dir)
            return open_dir_nofollow(self._parent_fd, name, create=create, where=self._snapshot_dir)
        if create:
            os.makedirs(self._snapshot_dir, exist_ok=True)
        return os.open(self._snapshot_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def _newest(names: list[str]) -> str | None:
    """``params.pkl`` if present, else the highest-numbered ``itr_N.pkl``, else None."""
    if PARAMS in names:
        return PARAMS
    numbered = [n for n in names if _is_itr_file(n)]
    return max(numbered, key=_itr_of) if numbered else None


def _pick(load_dir: str, itr: int | str) -> str:
    """The file garage's ``load(load_dir, itr)`` would read, with numeric ordering."""
    if isinstance(itr, int) or (isinstance(itr, str) and itr.isdigit()):
        path = os.path.join(load_dir, itr_file(int(itr)))
    else:
        if itr not in ("last", "first"):
            raise ValueError("itr should be an integer or 'last' or 'first'")
        path = os.path.join(load_dir, PARAMS)
        if not os.path.isfile(path):
            try:
                names = os.listdir(load_dir)
            except FileNotFoundError:
                names = []
            numbered = sorted((n for n in names if _is_itr_file(n)), key=_itr_of)
            if not numbered:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), "*.pkl file in", load_dir)
            path = os.path.join(load_dir, numbered[0] if itr == "first" else numbered[-1])
    if not os.path.isfile(path):
        raise NotAFileError("File not existing: ", path)
    return path


def _is_itr_file(name: str) -> bool:
    """Whether ``name`` is ``itr_<n>.pkl`` (n in ASCII digits)."""
    digits = name[4:-4]
    return name.startswith("itr_") and name.endswith(".pkl") and digits.isascii() and digits.isdigit()


def _itr_of(name: str) -> int:
    assert _is_itr_file(name)
    return int(name[4:-4])
