"""Selecting runs by parameter: where, split, slice, find, groups, missing runs."""

from __future__ import annotations

import pytest

from orchestra.results import MISSING, get_param, load_sweep
from tests.results.sweepdirs import write_run, write_status, write_sweep

# TD has no second step size; nested dicts as spinningup's ``a:b`` keys make them
CONFIGS = [
    {"algo": "TD", "alpha": 0.1, "model": {"name": "PR", "hidden": [64, 64]}},
    {"algo": "TD", "alpha": 0.5, "model": {"name": "PR", "hidden": [64, 64]}},
    {"algo": "GTD", "alpha": 0.1, "beta": 0.01, "model": {"name": "ESARSA", "hidden": [32]}},
    {"algo": "GTD", "alpha": 0.5, "beta": 0.01, "model": {"name": "ESARSA", "hidden": [32]}},
    {"algo": "GTD", "alpha": 0.5, "beta": 0.1, "model": {"name": "ESARSA", "hidden": [32]}},
]


@pytest.fixture
def sweep(tmp_path):
    sd, _ = write_sweep(tmp_path, CONFIGS, seeds=(0, 1))
    return load_sweep(sd.path)


def variants(runs):
    return [r.variant for r in runs][::2]


def test_get_param_reads_literal_dotted_and_colon_keys():
    p = {"network.lr": 1, "model": {"name": "PR", "opt": {"beta": 0.9}}}
    assert get_param(p, "network.lr") == 1
    assert get_param(p, "model.name") == "PR"
    assert get_param(p, "model:opt:beta") == 0.9
    assert get_param(p, "model.nope") is MISSING and get_param(p, "x", 3) == 3


def test_where_equals_keeps_runs_that_lack_the_parameter(sweep):
    assert len(sweep.where(beta=0.01)) == 8  # the two TD variants (no beta), the two GTD ones with 0.01
    assert {r.param("beta") for r in sweep.where(beta=0.01)} == {MISSING, 0.01}
    assert len(sweep.where(alpha=0.5, algo="GTD")) == 4


def test_where_reaches_nested_keys_and_takes_predicates(sweep):
    assert len(sweep.where({"model.name": "PR"})) == 4
    assert len(sweep.where({"model:hidden": [32]})) == 6
    assert len(sweep.where(alpha=lambda a: a > 0.2)) == 6
    assert len(sweep.where_ge("beta", 0.05)) == 6  # TD x2 variants (no beta) + beta=0.1
    assert len(sweep.filter(lambda r: r.seed == 1)) == 5


def test_split_groups_by_value_in_first_seen_order(sweep):
    parts = sweep.split("alpha")
    assert list(parts) == [0.1, 0.5] and [len(v) for v in parts.values()] == [4, 6]
    by_beta = sweep.split("beta")
    assert list(by_beta) == [None, 0.01, 0.1]  # runs without the parameter go under None
    assert list(sweep.split("model.hidden")) == [(64, 64), (32,)]  # lists become tuples to be keys


def test_slice_fixes_every_other_parameter_and_keeps_all_seeds(sweep):
    ref = sweep[6]  # GTD alpha 0.5 beta 0.01
    sl = sweep.slice(ref, "alpha")
    assert list(sl) == [0.1, 0.5]
    assert [r.param("beta") for r in sl[0.1]] == [0.01, 0.01] and [r.seed for r in sl[0.1]] == [0, 1]
    assert {r.param("algo") for rs in sl.values() for r in rs} == {"GTD"}
    assert list(sweep.slice(ref, "beta")) == [0.01, 0.1]


def test_find_matches_parameters_except_those_ignored(sweep):
    ref = sweep[2]  # TD alpha 0.5
    assert sweep.find(ref) is sweep[2]
    assert sweep.find(ref, ignore=["alpha"]) is sweep[0]
    assert sweep.find({"algo": "GTD", "alpha": 0.5, "beta": 0.1, "model": CONFIGS[4]["model"]}) is sweep[8]
    assert sweep.find(ref, ignore=["model.name"]) is sweep[2]
    assert sweep.find({"algo": "SARSA"}) is None
    assert len(sweep.matching(ref)) == 2


def test_seeds_of_a_variant_and_pooled_groups(sweep):
    by_variant = sweep.by_variant()
    assert len(by_variant) == 5 and all(len(v) == 2 for v in by_variant.values())
    groups = sweep.group_by(["algo", "alpha"])
    assert list(groups) == [("TD", 0.1), ("TD", 0.5), ("GTD", 0.1), ("GTD", 0.5)]
    assert len(groups[("GTD", 0.5)]) == 4


def test_missing_runs_are_those_not_completed_whatever_is_on_disk(tmp_path):
    sd, vs = write_sweep(tmp_path, CONFIGS, seeds=(0,))
    write_run(sd, vs[0], 0, state="completed")
    write_run(sd, vs[1], 0, state="failed")  # its directory exists: PyExpUtils would call it done
    write_run(sd, vs[2], 0, state="completed")
    write_status(sd.run(vs[2].name, 0), "running")  # orchestrator gone: lost
    write_run(sd, vs[3], 0, state="cancelled", reason="interrupted")
    sweep = load_sweep(sd.path)
    missing = sweep.missing()
    assert [r.index for r in missing] == [1, 2, 3, 4]
    assert [r.state for r in missing] == ["failed", "lost", "interrupted", "queued"]


def test_selections_are_views_over_the_same_runs(sweep):
    a = sweep.where(algo="GTD")
    assert a[0] is sweep[4] and isinstance(a[1:], type(a)) and len(a[1:]) == 5
