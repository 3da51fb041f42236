"""The payload: entry functions pickled at plan time, with the culprit named when that fails."""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
import types
from pathlib import Path

import cloudpickle
import pytest

from orchestra.errors import PayloadError
from orchestra.runtime.payload import dumps_entry, load_payload, write_payload

LOCK = threading.Lock()
SETTINGS = {"lr": 0.1, "lock": LOCK}


class Holder:
    def __init__(self) -> None:
        self.name = "holder"
        self.lock = threading.Lock()

    def train(self, lr: float) -> float:
        return lr


def test_a_global_lock_is_named() -> None:
    def train(lr):
        with LOCK:
            return lr

    with pytest.raises(PayloadError) as err:
        dumps_entry(train)
    message = str(err.value)
    assert message.startswith("entry function 'test_a_global_lock_is_named.<locals>.train' cannot be sent")
    assert "global 'LOCK' (lock)" in message and "create such objects inside the function" in message


def test_a_lock_deep_in_a_global_dict_is_named_with_its_path() -> None:
    def helper():
        return SETTINGS["lr"]

    def train():
        return helper()

    with pytest.raises(
        PayloadError,
        match=r"closure variable 'helper' \(function\) -> global 'SETTINGS' \(dict\) -> key 'lock' \(lock\)",
    ):
        dumps_entry(train)


def test_closures_defaults_partials_and_methods_are_searched() -> None:
    lock = threading.Lock()

    def closure():
        return lock

    def default(x=lock):
        return x

    def plain(x=None):
        return x

    with pytest.raises(PayloadError, match=r"closure variable 'lock' \(lock\)"):
        dumps_entry(closure)
    with pytest.raises(PayloadError, match=r"default #0 \(lock\)"):
        dumps_entry(default)
    with pytest.raises(PayloadError, match=r"partial argument 'x' \(lock\)"):
        dumps_entry(functools.partial(plain, x=lock))
    with pytest.raises(PayloadError, match=r"method's instance \(Holder\) -> attribute 'lock' \(lock\)"):
        dumps_entry(Holder().train)


def test_functions_of_the_sweep_module_travel_by_value(tmp_path: Path) -> None:
    module = types.ModuleType("not_importable_sweep")
    exec("SCALE = 3\ndef train(lr):\n    return SCALE * lr\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        data = dumps_entry(module.train, by_value=[module])
    finally:
        del sys.modules[module.__name__]
    write_payload(tmp_path / "payload.pkl", data)
    code = (
        "import sys; from orchestra.runtime.payload import load_payload; print(load_payload(sys.argv[1])(2))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "payload.pkl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "6", out.stderr
    assert cloudpickle.loads(data)(1) == 3


def test_functions_of_importable_modules_travel_by_reference() -> None:
    import json

    assert b"dumps" in dumps_entry(json.dumps) and len(dumps_entry(json.dumps)) < 100


def test_load_payload_says_what_is_wrong(tmp_path: Path) -> None:
    not_callable = tmp_path / "n.pkl"
    not_callable.write_bytes(cloudpickle.dumps(42))
    with pytest.raises(PayloadError, match="holds a int, not a function"):
        load_payload(not_callable)
    garbage = tmp_path / "g.pkl"
    garbage.write_bytes(b"not a pickle")
    with pytest.raises(PayloadError, match="cannot load the entry function"):
        load_payload(garbage)
