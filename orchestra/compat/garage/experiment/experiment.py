"""garage's experiment API (``garage.experiment.experiment`` and ``Snapshotter``) on orchestra.

>>> from orchestra.compat.garage import wrap_experiment
>>> @wrap_experiment(snapshot_mode="all")
... def my_experiment(ctxt, seed, lr=0.5):
...     ...
>>> my_experiment(seed=1)    # runs in this process, in data/local/experiment/my_experiment

As in garage's ``garage.experiment.experiment``: the first parameter must be ``ctxt``; the template
takes keyword arguments only, plus an optional dict of option overrides; the directory is
``log_dir`` or ``<cwd>/data/local/<prefix>/<name>`` (with ``name_parameters`` appended), claimed
atomically as ``<dir>``, ``<dir>_1``, ``<dir>_2``, ... unless ``use_existing_dir``; it gets
``variant.json`` (the keyword arguments actually passed), ``metadata.json`` (``githash``,
``launcher``) and, with ``archive_launch_repo``, ``launch_archive.tar.xz``.

Differences: there is no dowel logger (no ``debug.log``, ``progress.csv`` or TensorBoard output;
``x_axis`` is accepted and unused), so nothing global is set up and nothing leaks into the next
experiment when one raises; snapshot settings are checked when the experiment is wrapped or
called, before a directory is made; ``Snapshotter`` writes atomically and orders ``itr_N`` files
by number (see :mod:`orchestra.runtime.snapshot`).

A template can also be a sweep's entry function: each run then calls the wrapped function with
``ctxt`` set to the run's :class:`~orchestra.runtime.context.RunContext`, which has
``snapshot_dir`` (the run's ``snapshots/``), ``snapshot_mode`` and ``snapshot_gap`` (the sweep's),
and with the other parameters taken from the run's config.
"""

from __future__ import annotations

import collections
import enum
import functools
import gc
import inspect
import json
import os
import sys
import warnings
import weakref
from collections.abc import Callable
from typing import Any

from orchestra.atomic import write_bytes
from orchestra.plan.launch import EIGHT_MEBIBYTES, git_info, make_launch_archive
from orchestra.runtime.snapshot import NotAFileError, Snapshotter, check_settings

__all__ = [
    "EIGHT_MEBIBYTES",
    "ExperimentContext",
    "ExperimentTemplate",
    "LogEncoder",
    "NotAFileError",
    "SnapshotConfig",
    "Snapshotter",
    "dump_json",
    "get_metadata",
    "make_launcher_archive",
    "run_experiment",
    "to_local_command",
    "wrap_experiment",
]

SnapshotConfig = collections.namedtuple("SnapshotConfig", ["snapshot_dir", "snapshot_mode", "snapshot_gap"])

_OPTIONS = (
    "name",
    "function",
    "prefix",
    "name_parameters",
    "log_dir",
    "archive_launch_repo",
    "snapshot_gap",
    "snapshot_mode",
    "use_existing_dir",
    "x_axis",
    "signature",
)


class ExperimentContext:
    """Context in which an experiment is being run: where and how to snapshot."""

    def __init__(self, *, snapshot_dir: str, snapshot_mode: str, snapshot_gap: int) -> None:
        self.snapshot_dir = snapshot_dir
        self.snapshot_mode = snapshot_mode
        self.snapshot_gap = snapshot_gap


class ExperimentTemplate:
    """Creates experiment log directories and runs an experiment (made by :func:`wrap_experiment`)."""

    def __init__(
        self,
        *,
        function: Callable[..., Any] | None,
        log_dir: str | None,
        name: str | None,
        prefix: str,
        snapshot_mode: str,
        snapshot_gap: int,
        archive_launch_repo: bool,
        name_parameters: str | list[str] | None,
        use_existing_dir: bool,
        x_axis: str = "TotalEnvSteps",
    ) -> None:
        check_settings(snapshot_mode, snapshot_gap)
        self.function = function
        self.log_dir = log_dir
        self.name = name
        self.prefix = prefix
        self.snapshot_mode = snapshot_mode
        self.snapshot_gap = snapshot_gap
        self.archive_launch_repo = archive_launch_repo
        self.name_parameters = name_parameters
        self.use_existing_dir = use_existing_dir
        self.x_axis = x_axis
        if self.function is not None:
            self._update_wrap_params()

    @property
    def __orchestra_entry__(self) -> Callable[..., Any] | None:
        """What a sweep run calls: the wrapped function, with the run's context as ``ctxt``."""
        return self.function

    def _update_wrap_params(self) -> None:
        assert self.function is not None
        functools.update_wrapper(self, self.function)
        self.__signature__ = _make_experiment_signature(self.function)

    @classmethod
    def _augment_name(cls, options: dict[str, Any], name: str, params: dict[str, Any]) -> str:
        """``name`` with ``_k=v`` for the parameters ``name_parameters`` selects, in signature order."""
        chosen: dict[str, Any] = {}
        which = options["name_parameters"]
        parameters = options["signature"].parameters
        if which == "passed":
            for p in parameters.values():
                if p.name in params:
                    chosen[p.name] = params[p.name]
        elif which == "all":
            for p in parameters.values():
                chosen[p.name] = params.get(p.name, p.default)
        elif isinstance(which, list):
            for key in which:
                chosen[key] = params.get(key, parameters[key].default)
        elif which is not None:
            raise ValueError(
                'wrap_experiment.name_parameters should be set to one of None, "passed", or "all"'
            )
        suffix = "_".join(f"{k}={v}" for k, v in chosen.items())
        return f"{name}_{suffix}" if suffix else name

    def _get_options(self, *args: Any) -> dict[str, Any]:
        options = {
            "name": self.name,
            "function": self.function,
            "prefix": self.prefix,
            "name_parameters": self.name_parameters,
            "log_dir": self.log_dir,
            "archive_launch_repo": self.archive_launch_repo,
            "snapshot_gap": self.snapshot_gap,
            "snapshot_mode": self.snapshot_mode,
            "use_existing_dir": self.use_existing_dir,
            "x_axis": self.x_axis,
            "signature": self.__signature__,
        }
        if args:
            if len(args) == 1 and isinstance(args[0], dict):
                for k in args[0]:
                    if k not in _OPTIONS:
                        raise ValueError(f"Unknown key {k} in wrap_experiment options")
                options.update(args[0])
            else:
                raise ValueError("garage.experiment currently only supports keyword arguments")
        return options

    @classmethod
    def _make_context(cls, options: dict[str, Any], **kwargs: Any) -> ExperimentContext:
        """Claim the log directory and write variant.json, metadata.json and the launch archive."""
        check_settings(options["snapshot_mode"], options["snapshot_gap"])
        name = options["name"]
        if name is None:
            name = options["function"].__name__
        name = cls._augment_name(options, name, kwargs)
        log_dir = options["log_dir"]
        if log_dir is None:
            log_dir = f"{os.path.join(os.getcwd(), 'data')}/local/{options['prefix']}/{name}"
        if options["use_existing_dir"]:
            os.makedirs(log_dir, exist_ok=True)
        else:
            log_dir = _make_sequential_log_dir(log_dir)
        dump_json(os.path.join(log_dir, "variant.json"), kwargs)
        git_root_path, metadata = get_metadata()
        dump_json(os.path.join(log_dir, "metadata.json"), metadata)
        if git_root_path and options["archive_launch_repo"]:
            make_launcher_archive(git_root_path=git_root_path, log_dir=log_dir)
        print(f"[{name}] Logging to {log_dir}")
        return ExperimentContext(
            snapshot_dir=log_dir, snapshot_mode=options["snapshot_mode"], snapshot_gap=options["snapshot_gap"]
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Decorate a function (when none is set yet), or run the experiment with ``kwargs``."""
        if self.function is None:
            if len(args) != 1 or len(kwargs) != 0 or not callable(args[0]):
                raise ValueError("Please apply the result of wrap_experiment() to a single function")
            self.function = args[0]
            self._update_wrap_params()
            return self
        ctxt = self._make_context(self._get_options(*args), **kwargs)
        try:
            return self.function(ctxt, **kwargs)
        finally:
            gc.collect()  # garage does this after every experiment (dowel issue #44)


def wrap_experiment(
    function: Callable[..., Any] | None = None,
    *,
    log_dir: str | None = None,
    prefix: str = "experiment",
    name: str | None = None,
    snapshot_mode: str = "last",
    snapshot_gap: int = 1,
    archive_launch_repo: bool = True,
    name_parameters: str | list[str] | None = None,
    use_existing_dir: bool = False,
    x_axis: str = "TotalEnvSteps",
) -> ExperimentTemplate:
    """Decorate a function to turn it into an :class:`ExperimentTemplate`.

    Bare (``@wrap_experiment``) or with keyword arguments (``@wrap_experiment(snapshot_mode='all')``).
    The function's first parameter must be named ``ctxt``; it gets an :class:`ExperimentContext`.
    """
    return ExperimentTemplate(
        function=function,
        log_dir=log_dir,
        prefix=prefix,
        name=name,
        snapshot_mode=snapshot_mode,
        snapshot_gap=snapshot_gap,
        archive_launch_repo=archive_launch_repo,
        name_parameters=name_parameters,
        use_existing_dir=use_existing_dir,
        x_axis=x_axis,
    )


def _make_sequential_log_dir(log_dir: str) -> str:
    """Create ``log_dir``, or the first of ``log_dir_1``, ``log_dir_2``, ... that does not exist yet.

    ``makedirs`` fails when the directory exists, so two processes never claim the same one.
    """
    i = 0
    while True:
        candidate = log_dir if i == 0 else f"{log_dir}_{i}"
        try:
            os.makedirs(candidate)
        except FileExistsError:
            i += 1
            continue
        return candidate


def _make_experiment_signature(function: Callable[..., Any]) -> inspect.Signature:
    """The template's signature: ``function``'s without ``ctxt``, every parameter keyword-only."""
    func_sig = inspect.signature(function)
    params = list(func_sig.parameters.values())
    if not params:
        raise ValueError(
            f"Experiment functions should have a first parameter named 'ctxt', but {function!r} has no parameters"
        )
    if params[0].name != "ctxt":
        raise ValueError(
            f"Experiment functions should have a first parameter named 'ctxt' instead of {params[0].name!r}"
        )
    new_params = [
        inspect.Parameter(
            name=p.name, kind=inspect.Parameter.KEYWORD_ONLY, default=p.default, annotation=p.annotation
        )
        for p in params[1:]
    ]
    return inspect.Signature(new_params, return_annotation=func_sig.return_annotation)


def dump_json(filename: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON with :class:`LogEncoder`, creating parent directories."""
    os.makedirs(os.path.dirname(os.fspath(filename)) or ".", exist_ok=True)
    text = json.dumps(data, indent=2, sort_keys=False, cls=LogEncoder, check_circular=False)
    write_bytes(filename, text.encode("utf-8"))


def get_metadata() -> tuple[str | None, dict[str, str]]:
    """``(git root or None, {"githash", "launcher"})`` for the main script, as garage records it.

    No main script (a REPL, a notebook): ``(None, {})``. Not in a git repository:
    ``(None, {"launcher": <absolute path>})``. ``githash`` ends in ``-dirty`` when ``git status``
    lists anything; ``launcher`` is relative to the repository's root.
    """
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    if not main_file:
        return None, {}
    return git_info(main_file)


def make_launcher_archive(*, git_root_path: str, log_dir: str) -> None:
    """Save ``launch_archive.tar.xz`` of the launcher's repository into ``log_dir``.

    Tracked and untracked-but-not-ignored files; files of 8 MiB or more are left out, and a
    repository of 8 MiB or more in all gives a UserWarning.
    """
    total, _ = make_launch_archive(git_root_path, os.path.join(log_dir, "launch_archive.tar.xz"))
    if total >= EIGHT_MEBIBYTES:
        warnings.warn(
            "Archiving a launch repo larger than 8MiB. This may be slow. "
            "Set archive_launch_repo=False in wrap_experiment to disable this behavior.",
            stacklevel=2,
        )


class LogEncoder(json.JSONEncoder):
    """garage's JSON encoder: anything becomes readable JSON instead of a TypeError.

    Dicts with non-string keys get ``repr`` keys; classes ``{"$typename": ...}``; enums
    ``{"$enum": ...}``; numpy numbers floats and numpy bools bools; arrays, weak references and
    objects from tensorflow, ray and itertools their ``repr``; objects with ``__dict__`` or
    ``__slots__`` their fields plus ``"$type"``; other named callables ``{"$function": ...}``;
    iterables lists; a circular reference ``"circular <repr>"``.
    """

    BLOCKED_MODULES = frozenset({"tensorflow", "ray", "itertools"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._markers: dict[int, Any] = {}

    def default(self, o: Any) -> Any:
        if isinstance(o, (int, bool, float, str)):
            return o
        marker = id(o)
        if marker in self._markers:
            return "circular " + repr(o)
        self._markers[marker] = o
        try:
            return self._default_inner(o)
        finally:
            del self._markers[marker]

    def _default_inner(self, o: Any) -> Any:
        try:
            return json.JSONEncoder.default(self, o)
        except TypeError as err:
            np = sys.modules.get("numpy")  # a numpy object exists only if numpy is imported
            if isinstance(o, dict):
                return {(k if isinstance(k, str) else repr(k)): self.default(v) for k, v in o.items()}
            if isinstance(o, weakref.ref):
                return repr(o)
            if type(o).__module__.split(".")[0] in self.BLOCKED_MODULES:
                return repr(o)
            if isinstance(o, type):
                return {"$typename": o.__module__ + "." + o.__name__}
            if np is not None and isinstance(o, np.number):
                return float(o)  # JSON has no integers apart from floats, as garage puts it
            if np is not None and isinstance(o, np.bool_):
                return bool(o)
            if isinstance(o, enum.Enum):
                return {"$enum": o.__module__ + "." + o.__class__.__name__ + "." + o.name}
            if np is not None and isinstance(o, np.ndarray):
                return repr(o)
            if hasattr(o, "__dict__") or hasattr(o, "__slots__"):
                fields = getattr(o, "__dict__", None)
                if fields is not None:
                    data = {k: self.default(v) for k, v in fields.items()}
                else:
                    data = {s: self.default(getattr(o, s)) for s in o.__slots__}
                t = type(o)
                data["$type"] = t.__module__ + "." + t.__name__
                return data
            if callable(o) and hasattr(o, "__name__"):
                if getattr(o, "__module__", None) is not None:
                    return {"$function": o.__module__ + "." + o.__name__}
                return repr(o)
            try:
                return [self.default(v) for v in list(o)]
            except TypeError:
                pass
            try:
                return repr(o)
            except TypeError:
                pass
            raise err


# garage kept its deprecated launcher in this module too
from orchestra.compat.garage.experiment.local import run_experiment, to_local_command  # noqa: E402
