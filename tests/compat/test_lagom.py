"""orchestra.compat.lagom behaves as lagom.experiment's Config/Grid/Sample/Condition (SEEDS §A1.1-A1.2)."""

from __future__ import annotations

import numpy as np
import pytest

from orchestra import Sweep
from orchestra.compat.lagom import Condition, Config, Grid, Sample
from orchestra.errors import UserError


def test_grid_is_a_list():
    values = [1, 2, 3]
    grid = Grid(values)
    assert isinstance(grid, list)
    assert len(grid) == 3 and all(grid[i] == v for i, v in enumerate(values))


def test_sample_calls_f_with_no_arguments_every_time():
    sampler = Sample(lambda: np.random.uniform(3, 7))
    draws = [sampler() for _ in range(100)]
    assert all(3 <= x < 7 for x in draws) and len(set(draws)) > 1
    assert all(Sample(lambda: 5)() == 5 for _ in range(10))


def test_condition():
    condition = Condition(lambda x: 10 if x["one"] == "ten" else -1)
    assert condition({"one": "ten"}) == 10
    assert condition({"one": 10}) == -1


def test_config_needs_a_dict_and_says_so_with_an_assertion():
    with pytest.raises(AssertionError):
        Config([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(UserError, match="Config needs a dict of config items, got list"):
        Config([1, 2, 3])  # type: ignore[arg-type]


def lagom_items():
    return {
        "log.dir": "some path",
        "beta": Condition(lambda x: "small" if x["alpha"] < 5 else "large"),
        "network.type": "MLP",
        "network.hidden_size": [64, 64],
        "network.lr": Grid([1e-3, 1e-4]),
        "env.id": "HalfCheetah-v2",
        "iter": Grid([10, 20, 30]),
        "alpha": Sample(lambda: np.random.uniform(3, 10)),
    }


@pytest.mark.parametrize("num_sample", [1, 5, 10])
@pytest.mark.parametrize("keep_dict_order", [True, False])
def test_lagoms_own_config_test(num_sample, keep_dict_order):
    config = Config(lagom_items(), num_sample=num_sample, keep_dict_order=keep_dict_order)
    list_config = config.make_configs()
    assert len(list_config) == 2 * 3 * num_sample
    assert [x["ID"] for x in list_config] == list(range(2 * 3 * num_sample))
    for x in list_config:
        assert len(x.keys()) == len(config.items.keys()) + 1
        assert x["log.dir"] == "some path"
        assert x["beta"] == ("small" if x["alpha"] < 5 else "large")
        assert x["network.type"] == "MLP"
        assert x["network.hidden_size"] == [64, 64]
        assert x["network.lr"] in [1e-3, 1e-4]
        assert x["env.id"] == "HalfCheetah-v2"
        assert x["iter"] in [10, 20, 30]
        assert 3 <= x["alpha"] < 10
        if keep_dict_order:
            assert list(x.keys()) == ["ID", *config.items.keys()]
        else:
            assert list(x.keys()) == [
                "ID", "log.dir", "beta", "network.type", "network.hidden_size", "env.id", "network.lr", "iter", "alpha",
            ]  # fmt: skip


@pytest.mark.parametrize("num_sample", [1, 5])
def test_without_a_sample_num_sample_becomes_one(num_sample):
    items = {k: v for k, v in lagom_items().items() if k not in ("alpha", "beta")}
    config = Config(items, num_sample=num_sample)
    assert config.num_sample == 1
    assert [x["ID"] for x in config.make_configs()] == list(range(6))
    fixed = {k: v for k, v in items.items() if not isinstance(v, Grid)}
    assert [x["ID"] for x in Config(fixed, num_sample=num_sample).make_configs()] == [0]


def test_grid_repeated_with_a_fresh_draw_per_config():
    draws = iter(range(1000))
    configs = Config(
        {"g": Grid(["a", "b", "c"]), "s": Sample(lambda: next(draws))}, num_sample=2
    ).make_configs()
    assert [(c["ID"], c["g"], c["s"]) for c in configs] == [
        (0, "a", 0), (1, "b", 1), (2, "c", 2), (3, "a", 3), (4, "b", 4), (5, "c", 5),
    ]  # fmt: skip


def test_fixed_values_are_the_same_object_in_every_config():
    hidden = [64, 64]
    configs = Config({"hidden": hidden, "lr": Grid([1, 2])}).make_configs()
    assert all(c["hidden"] is hidden for c in configs)


def test_docstring_key_order_is_id_then_fixed_then_grids():
    config = Config(
        {"log.dir": "some path", "network.lr": Grid([1e-3, 5e-3]), "env.id": Grid(["CartPole-v1", "Ant-v2"])}
    )
    configs = config.make_configs()
    assert list(configs[0]) == ["ID", "log.dir", "network.lr", "env.id"]
    assert [(c["network.lr"], c["env.id"]) for c in configs] == [
        (1e-3, "CartPole-v1"), (1e-3, "Ant-v2"), (5e-3, "CartPole-v1"), (5e-3, "Ant-v2"),
    ]  # fmt: skip


def test_empty_grid_gives_no_configs():
    assert Config({"a": Grid([]), "b": Grid([1])}).make_configs() == []


def test_conditions_resolve_in_key_order_and_a_later_one_is_still_a_condition():
    late = Condition(lambda c: c["x"] + 1)
    configs = Config(
        {"early": Condition(lambda c: c["late"]), "late": late, "x": Grid([1, 2])}
    ).make_configs()
    assert configs[0]["early"] is late and configs[0]["late"] == 2
    kept = Config(
        {"x": Grid([1]), "late": late, "early": Condition(lambda c: c["late"])}, keep_dict_order=True
    )
    assert kept.make_configs()[0]["early"] == 2


def test_a_lagom_config_is_a_sweep_space():
    sweep = Sweep(lambda config: None, Config({"lr": Grid([0.1, 0.2]), "hidden": [64]}), seeds=[1, 2, 3])
    plan = sweep.plan()
    assert [v.params for v in plan.variants] == [{"hidden": [64], "lr": 0.1}, {"hidden": [64], "lr": 0.2}]
    assert [(r.index, r.variant.index, r.seed) for r in plan.runs][:4] == [
        (0, 0, 1),
        (1, 0, 2),
        (2, 0, 3),
        (3, 1, 1),
    ]


def test_lagoms_assertions_are_still_assertion_errors():
    with pytest.raises(AssertionError, match="Condition needs a function"):
        Condition(42)  # type: ignore[arg-type]
    with pytest.raises(AssertionError, match="Sample needs a function"):
        Sample(42)  # type: ignore[arg-type]
