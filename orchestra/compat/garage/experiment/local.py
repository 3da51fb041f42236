"""garage's deprecated ``run_experiment`` / ``to_local_command`` (v2020.06): one shell command per task.

>>> to_local_command({"exp_name": "e", "hidden": [32, 32]})
"python -m orchestra.compat.garage.experiment.experiment_wrapper  --exp_name 'e'  --hidden '32' '32'"

(garage quotes every value that has an ordinary character: its "unsafe" pattern matches safe ones.)

``run_experiment(method_call, ...)`` cloudpickles each call into ``--args_data`` (base64), names
it ``<exp_prefix>_<timestamp>_<count>`` unless ``exp_name`` is given, logs it under
``<cwd>/data/local/<exp-prefix>/<exp_name>`` unless ``log_dir`` is given, pickles ``variant`` (with
``exp_name`` added) into ``--variant_data``, and runs the tasks one after another with
``subprocess.run(command, shell=True, check=True)``; ``dry=True`` prints the first command and
returns. The child (:mod:`orchestra.compat.garage.experiment.experiment_wrapper`) calls
``method_call(snapshot_config, variant_data, resume_from_dir, resume_from_epoch)``.

Differences from garage: the default ``script`` is orchestra's wrapper module; ``GARAGE_ENV`` is
read with ``ast.literal_eval`` (garage ``eval``-ed it); ``force_cpu`` hides the GPUs from the child
only (garage also set ``CUDA_VISIBLE_DEVICES=-1`` in the caller's own environment); tasks given as
dicts in ``batch_tasks`` are checked for a callable ``method_call`` (garage's check refused every
dict). New code should use ``orchestra.Sweep`` or :func:`wrap_experiment`.
"""

from __future__ import annotations

import ast
import base64
import datetime
import os
import pickle
import re
import subprocess
import warnings
from collections.abc import Callable
from typing import Any

import cloudpickle

from orchestra.errors import UserError

WRAPPER = "orchestra.compat.garage.experiment.experiment_wrapper"

exp_count = 0
timestamp = datetime.datetime.now().strftime("%Y_%m_%d_%H_%M_%S")


class RunExperimentError(UserError, ValueError):
    """garage's deprecated run_experiment was called without something to run."""


def run_experiment(
    method_call: Callable[..., Any] | None = None,
    batch_tasks: list[dict[str, Any]] | None = None,
    exp_prefix: str = "experiment",
    exp_name: str | None = None,
    log_dir: str | None = None,
    script: str = WRAPPER,
    python_command: str = "python",
    dry: bool = False,
    env: dict[str, str] | None = None,
    variant: dict[str, Any] | None = None,
    force_cpu: bool = False,
    pre_commands: Any = None,
    **kwargs: Any,
) -> None:
    """Serialise each method call and run it in its own ``python -m <script>`` (see the module doc)."""
    global exp_count
    warnings.warn(
        "run_experiment is deprecated; use orchestra.Sweep or wrap_experiment instead",
        DeprecationWarning,
        stacklevel=2,
    )
    if method_call is None and batch_tasks is None:
        raise RunExperimentError("run_experiment: give method_call or batch_tasks (a list of task dicts)")
    if batch_tasks is None:
        if not callable(method_call):
            raise RunExperimentError(f"run_experiment: method_call must be callable, got {method_call!r}")
        batch_tasks = [
            dict(
                kwargs,
                pre_commands=pre_commands,
                method_call=method_call,
                exp_name=exp_name,
                log_dir=log_dir,
                env=env,
                variant=dict(variant or {}),
            )
        ]
    for i, task in enumerate(batch_tasks):
        if not callable(task.get("method_call")):
            raise RunExperimentError(f"run_experiment: batch_tasks[{i}] has no callable 'method_call'")
    for task in batch_tasks:
        call = task.pop("method_call")
        task["args_data"] = base64.b64encode(cloudpickle.dumps(call)).decode("utf-8")
        exp_count += 1
        if task.get("exp_name") is None:
            task["exp_name"] = f"{exp_prefix}_{timestamp}_{exp_count:04n}"
        if task.get("log_dir") is None:
            prefix = exp_prefix.replace("_", "-")
            task["log_dir"] = f"{os.path.join(os.getcwd(), 'data')}/local/{prefix}/{task['exp_name']}"
        if task.get("variant") is not None:
            task_variant = task.pop("variant")
            task_variant.setdefault("exp_name", task["exp_name"])
            task["variant_data"] = base64.b64encode(pickle.dumps(task_variant)).decode("utf-8")
        elif "variant" in task:
            del task["variant"]
        task["env"] = dict(task.get("env") or {})
        task["env"]["GARAGE_FORCE_CPU"] = str(force_cpu)
        if force_cpu:
            task["env"]["CUDA_VISIBLE_DEVICES"] = "-1"
    for task in batch_tasks:
        task_env = task.pop("env")
        command = to_local_command(task, python_command=python_command, script=script)
        print(command, flush=True)
        if dry:
            return
        try:
            subprocess.run(command, shell=True, env={**os.environ, **task_env}, check=True)
        except Exception as exc:
            print(exc)
            raise


_find_unsafe = re.compile(r"[a-zA-Z0-9_^@%+=:,./-]").search


def _shellquote(s: str) -> str:
    if not s:
        return "''"
    if _find_unsafe(s) is None:
        return s
    return "'" + s.replace("'", "'\"'\"'") + "'"


def _to_param_val(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return " ".join(_shellquote(str(x)) for x in v)
    return _shellquote(str(v))


def to_local_command(params: dict[str, Any], python_command: str = "python", script: str = WRAPPER) -> str:
    """``python -m <script>  --k v ...``: dict values as ``--k_sub v`` (``_name`` as ``--k``), lists
    space-separated, None empty; ``GARAGE_ENV`` (a dict literal) prefixes ``K=V`` assignments."""
    command = f"{python_command} -m {script}"
    garage_env = os.environ.get("GARAGE_ENV", "{}")
    try:
        extra = ast.literal_eval(garage_env)
    except (ValueError, SyntaxError):
        raise RunExperimentError(
            f"GARAGE_ENV={garage_env!r} is not a dict literal such as {{'K': 'V'}}"
        ) from None
    for k, v in dict(extra).items():
        command = f"{k}={v} " + command
    pre = params.pop("pre_commands", None)
    post = params.pop("post_commands", None)
    if pre is not None or post is not None:
        print("Not executing the pre_commands: ", pre, ", nor post_commands: ", post)
    for k, v in params.items():
        if isinstance(v, dict):
            for nk, nv in v.items():
                if str(nk) == "_name":
                    command += f"  --{k} {_to_param_val(nv)}"
                else:
                    command += f"  --{k}_{nk} {_to_param_val(nv)}"
        else:
            command += f"  --{k} {_to_param_val(v)}"
    return command
