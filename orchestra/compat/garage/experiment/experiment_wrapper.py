"""``python -m orchestra.compat.garage.experiment.experiment_wrapper``: the child side of garage's
deprecated ``run_experiment`` (garage's ``experiment_wrapper.run_experiment(argv)``).

It seeds (``--seed``), writes ``variant.json`` (from ``--variant_data``) and ``params.json`` (the
arguments) into the log directory, then calls
``method_call(snapshot_config, variant_data, resume_from_dir, resume_from_epoch)``.
garage's dowel outputs (``debug.log``, ``progress.csv``, TensorBoard) are not made.
"""

from __future__ import annotations

import argparse
import ast
import base64
import datetime
import os
import sys
import uuid
from typing import Any

import cloudpickle

from orchestra.compat.garage.experiment.deterministic import set_seed
from orchestra.compat.garage.experiment.experiment import SnapshotConfig, dump_json


def run_experiment(argv: list[str]) -> None:
    """Run the method call that ``argv`` carries (``argv[0]`` is the program name)."""
    now = datetime.datetime.now().astimezone()
    default_exp_name = f"experiment_{now.strftime('%Y_%m_%d_%H_%M_%S_%f_%Z')}_{str(uuid.uuid4())[:5]}"
    p = argparse.ArgumentParser()
    p.add_argument("--exp_name", type=str, default=default_exp_name)
    p.add_argument("--log_dir", type=str, default=None)
    p.add_argument("--snapshot_mode", type=str, default="last")
    p.add_argument("--snapshot_gap", type=int, default=1)
    p.add_argument("--resume_from_dir", type=str, default=None)
    p.add_argument("--resume_from_epoch", type=str, default=None)
    p.add_argument("--tabular_log_file", type=str, default="progress.csv")
    p.add_argument("--text_log_file", type=str, default="debug.log")
    p.add_argument("--tensorboard_step_key", type=str, default=None)
    p.add_argument("--params_log_file", type=str, default="params.json")
    p.add_argument("--variant_log_file", type=str, default="variant.json")
    p.add_argument("--plot", type=ast.literal_eval, default=False)
    p.add_argument("--log_tabular_only", type=ast.literal_eval, default=False)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--args_data", type=str)
    p.add_argument("--variant_data", type=str)
    args = p.parse_args(argv[1:])
    if args.seed is not None:
        set_seed(args.seed)
    log_dir = args.log_dir or os.path.join(os.getcwd(), "data", args.exp_name)
    variant_data: Any = None
    if args.variant_data is not None:
        variant_data = cloudpickle.loads(base64.b64decode(args.variant_data))
        dump_json(os.path.join(log_dir, args.variant_log_file), variant_data)
    params = dict(vars(args))
    if args.args_data is not None:
        params["json_args"] = {}
    dump_json(os.path.join(log_dir, args.params_log_file), params)
    snapshot_config = SnapshotConfig(
        snapshot_dir=log_dir, snapshot_mode=args.snapshot_mode, snapshot_gap=args.snapshot_gap
    )
    method_call = cloudpickle.loads(base64.b64decode(args.args_data))
    print(f"[{args.exp_name}] Logging to {log_dir}", flush=True)
    method_call(snapshot_config, variant_data, args.resume_from_dir, args.resume_from_epoch)


if __name__ == "__main__":
    run_experiment(sys.argv)
