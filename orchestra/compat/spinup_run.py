"""spinningup's ``call_experiment``: run one experiment's thunk in a fresh Python interpreter.

>>> call_experiment("ppo_cartpole", ppo, seed=3, env_name="CartPole-v1", data_dir="data", epochs=10)

As in spinningup's ``spinup.utils.run_utils.call_experiment``: ``kwargs['seed'] = seed``; the kwargs are
printed; unless given, ``logger_kwargs = {"output_dir": data_dir/exp_name/exp_name_s{seed},
"exp_name": exp_name}`` (with ``datestamp``: ``%Y-%m-%d_exp_name/%Y-%m-%d_%H-%M-%S-exp_name_s{seed}``);
``env_name`` becomes ``env_fn = lambda: gymnasium.make(env_name)``; the thunk runs as
``thunk(**kwargs)`` in a new interpreter from a cloudpickle, so experiments in a loop share no
state; a failing experiment prints spinningup's banner and raises ``CalledProcessError``.
``call_experiment`` writes nothing itself: the thunk's logger creates ``output_dir``.

Differences: the thunk travels in a temp file, not in ``argv`` (no ``ARG_MAX`` limit); the default
``data_dir`` is ``./data`` in the current directory (spinningup's is beside its own package);
``env_name`` needs gymnasium (checked before launching) rather than gym; the closing message
names the output directory instead of spinningup's plot commands; tuples print as lists.
``num_cpu > 1`` runs the thunk under ``mpirun -np num_cpu`` (every rank runs the whole thunk, as in
spinningup, with ``IN_MPI=1`` and one thread per rank) and is an error when ``mpirun`` is not on PATH.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from textwrap import dedent
from typing import Any

import cloudpickle

from orchestra.errors import PayloadError, UserError
from orchestra.runtime.payload import find_culprit

DIV_LINE_WIDTH = 80
_COLORS = {
    "gray": 30,
    "red": 31,
    "green": 32,
    "yellow": 33,
    "blue": 34,
    "magenta": 35,
    "cyan": 36,
    "white": 37,
    "crimson": 38,
}


class CallExperimentError(UserError, ValueError):
    """``call_experiment`` was asked for something it cannot do here."""


def colorize(string: str, color: str, bold: bool = False, highlight: bool = False) -> str:
    """``string`` in ANSI colour, as spinningup prints its headings."""
    num = _COLORS[color] + (10 if highlight else 0)
    attrs = [str(num)] + (["1"] if bold else [])
    return f"\x1b[{';'.join(attrs)}m{string}\x1b[0m"


def convert_json(obj: Any) -> Any:
    """spinningup's ``convert_json``: a readable JSON version of hyperparameters."""
    if _is_json_serializable(obj):
        return obj
    if isinstance(obj, dict):
        return {convert_json(k): convert_json(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [convert_json(x) for x in obj]
    if hasattr(obj, "__name__") and "lambda" not in obj.__name__:
        return convert_json(obj.__name__)
    if hasattr(obj, "__dict__") and obj.__dict__:
        return {str(obj): {convert_json(k): convert_json(v) for k, v in obj.__dict__.items()}}
    return str(obj)


def _is_json_serializable(v: Any) -> bool:
    try:
        json.dumps(v)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def setup_logger_kwargs(
    exp_name: str, seed: int | None = None, data_dir: str | None = None, datestamp: bool = False
) -> dict[str, str]:
    """``{"output_dir", "exp_name"}``: ``data_dir/exp_name/exp_name_s{seed}`` (see the module doc).

    ``data_dir`` defaults to ``user_config.DEFAULT_DATA_DIR`` (relative to the current directory);
    ``user_config.FORCE_DATESTAMP`` datestamps every directory.
    """
    from orchestra.compat.spinup import user_config

    datestamp = datestamp or user_config.FORCE_DATESTAMP
    relpath = (time.strftime("%Y-%m-%d_") if datestamp else "") + exp_name
    if seed is not None:
        if datestamp:
            subfolder = time.strftime("%Y-%m-%d_%H-%M-%S") + "-" + exp_name + "_s" + str(seed)
        else:
            subfolder = exp_name + "_s" + str(seed)
        relpath = os.path.join(relpath, subfolder)
    data_dir = data_dir or os.path.abspath(user_config.DEFAULT_DATA_DIR)
    return {"output_dir": os.path.join(data_dir, relpath), "exp_name": exp_name}


def call_experiment(
    exp_name: str,
    thunk: Callable[..., Any],
    seed: int = 0,
    num_cpu: int | str = 1,
    data_dir: str | None = None,
    datestamp: bool = False,
    **kwargs: Any,
) -> None:
    """Run ``thunk(**kwargs, seed=seed, logger_kwargs=...)`` in a fresh interpreter; raise if it fails."""
    if num_cpu == "auto":
        import psutil

        num_cpu = psutil.cpu_count(logical=False) or 1
    if not isinstance(num_cpu, int) or num_cpu < 1:
        raise CallExperimentError(
            f"call_experiment: num_cpu must be a positive integer or 'auto', got {num_cpu!r}"
        )
    launcher: list[str] = []
    if num_cpu > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise CallExperimentError(
                f"call_experiment: num_cpu={num_cpu} runs the thunk under MPI, but mpirun is not on PATH; "
                "install an MPI implementation (and mpi4py), or use num_cpu=1"
            )
        launcher = [mpirun, "-np", str(num_cpu)]
    if "env_name" in kwargs and importlib.util.find_spec("gymnasium") is None:
        raise CallExperimentError(
            f"call_experiment: env_name={kwargs['env_name']!r} becomes env_fn = gymnasium.make(env_name), "
            "but gymnasium is not installed; pip install gymnasium, or pass env_fn yourself"
        )

    kwargs["seed"] = seed
    print(colorize("Running experiment:\n", color="cyan", bold=True))
    print(exp_name + "\n")
    print(colorize("with kwargs:\n", color="cyan", bold=True))
    print(json.dumps(convert_json(kwargs), separators=(",", ":\t"), indent=4, sort_keys=True))
    print("\n")
    if "logger_kwargs" not in kwargs:
        kwargs["logger_kwargs"] = setup_logger_kwargs(exp_name, seed, data_dir, datestamp)
    else:
        print("Note: Call experiment is not handling logger_kwargs.\n")

    thunk_plus = functools.partial(_run_thunk, thunk, kwargs)
    try:
        payload = cloudpickle.dumps(thunk_plus)
    except Exception as exc:
        culprit = find_culprit(thunk_plus)
        where = f"{culprit}: " if culprit else ""
        raise PayloadError(
            f"call_experiment {exp_name!r}: the thunk cannot be sent to a fresh interpreter: {where}"
            f"{type(exc).__name__}: {exc}"
        ) from exc
    fd, path = tempfile.mkstemp(prefix="orchestra-thunk-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        env = dict(os.environ)
        if launcher:
            env.update({"IN_MPI": "1", "MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        cmd = [*launcher, sys.executable, "-m", "orchestra.compat.spinup_run", path]
        try:
            sys.stdout.flush()
            subprocess.check_call(cmd, env=env)
        except subprocess.CalledProcessError:
            err_msg = (
                "\n" * 3
                + "=" * DIV_LINE_WIDTH
                + "\n"
                + dedent(
                    """

            There appears to have been an error in your experiment.

            Check the traceback above to see what actually went wrong. The
            traceback below, included for completeness (but probably not useful
            for diagnosing the error), shows the stack leading up to the
            experiment launch.

            """
                )
                + "=" * DIV_LINE_WIDTH
                + "\n" * 3
            )
            print(err_msg)
            raise
    finally:
        os.unlink(path)

    output_dir = (
        kwargs["logger_kwargs"].get("output_dir") if isinstance(kwargs["logger_kwargs"], dict) else None
    )
    where = f"Results are in:\n\n{colorize(str(output_dir), 'green')}\n\n\n" if output_dir else ""
    print(
        "\n" * 5
        + "=" * DIV_LINE_WIDTH
        + "\n"
        + "End of experiment.\n\n\n"
        + where
        + "=" * DIV_LINE_WIDTH
        + "\n" * 5
    )


def _run_thunk(thunk: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    """What the fresh interpreter runs: make ``env_fn`` from ``env_name``, then call the thunk."""
    if "env_name" in kwargs:
        kwargs["env_fn"] = functools.partial(_make_env, kwargs.pop("env_name"))
    thunk(**kwargs)


def _make_env(env_name: str) -> Any:
    import gymnasium

    return gymnasium.make(env_name)


def main(argv: list[str] | None = None) -> int:
    """The fresh interpreter's side: load the pickled thunk from the file in ``argv`` and run it."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m orchestra.compat.spinup_run <thunk.pkl>", file=sys.stderr)
        return 2
    with open(argv[0], "rb") as f:
        thunk_plus = cloudpickle.load(f)
    thunk_plus()
    return 0


if __name__ == "__main__":
    sys.exit(main())
