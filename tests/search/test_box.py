"""Box: dimensions, the unit cube both ways, and every bad bound refused in one line."""

from __future__ import annotations

import math
import random

import pytest

from orchestra.search import Box, BoxError


def test_decode_maps_the_unit_cube_onto_each_dimension_and_keeps_fixed_values():
    box = Box(
        {"lr": (1e-4, 1e-1, "log"), "gamma": (0.9, 0.999), "layers": (1, 4, "int"), "act": ["relu", "tanh"]},
        fixed={"env_id": "CartPole-v1"},
    )
    assert box.decode([0.0, 0.0, 0.0, 0.0]) == {
        "env_id": "CartPole-v1",
        "lr": 1e-4,
        "gamma": 0.9,
        "layers": 1,
        "act": "relu",
    }
    top = box.decode([1.0, 1.0, 1.0, 1.0])
    assert top["lr"] == pytest.approx(1e-1) and top["gamma"] == pytest.approx(0.999)
    assert top["layers"] == 4 and top["act"] == "tanh"
    mid = box.decode([0.5, 0.5, 0.5, 0.49])
    assert mid["lr"] == pytest.approx(math.sqrt(1e-4 * 1e-1))  # the middle of a log range
    assert mid["gamma"] == pytest.approx(0.9495) and mid["act"] == "relu"
    clipped = box.decode([-3.0, 7.0, 2.0, -1.0])
    assert clipped["lr"] == 1e-4 and clipped["gamma"] == 0.999 and clipped["layers"] == 4


def test_integers_get_equal_shares_of_the_cube_and_encode_goes_back():
    box = Box({"k": (1, 4, "int"), "n": (1, 1000, "log-int")})
    rng = random.Random(0)
    counts = {k: 0 for k in range(1, 5)}
    for _ in range(4000):
        counts[box.decode([rng.random(), 0.5])["k"]] += 1
    assert all(900 < c < 1100 for c in counts.values()), counts
    for k in range(1, 5):
        for n in (1, 7, 999, 1000):
            assert box.decode(box.encode({"k": k, "n": n})) == {"k": k, "n": n}
    lr = Box({"lr": (1e-5, 1.0, "log")})
    assert lr.decode(lr.encode({"lr": 3e-4}))["lr"] == pytest.approx(3e-4)


@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ({"lr": (0.1, 0.01)}, "Box dimension 'lr': low 0.1 must be below high 0.01"),
        ({"lr": (0.1, 0.1)}, "low 0.1 must be below high 0.1"),
        ({"lr": (0.0, 1.0, "log")}, "Box dimension 'lr': a log range needs low > 0, got 0.0"),
        ({"lr": (-1, 1.0, "log-int")}, "a log range needs low > 0"),
        ({"lr": (1e-4, 1.0, "logarithmic")}, "scale 'logarithmic' is not one of linear, log, int, log-int"),
        ({"k": (1.5, 4, "int")}, "an integer range needs whole bounds"),
        ({"lr": (0, float("inf"))}, "bounds must be finite numbers"),
        ({"lr": 0.1}, "write (low, high), (low, high, 'log'), (low, high, 'int') or a list of choices"),
        ({"act": []}, "the list of choices is empty"),
        ({}, "Box has no dimension to search"),
    ],
)
def test_bad_dimensions_are_refused_in_one_line(dims, message):
    with pytest.raises(BoxError) as err:
        Box(dims)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_key_both_searched_and_fixed_is_refused():
    with pytest.raises(BoxError, match="'lr' is both searched and fixed"):
        Box({"lr": (0.1, 1.0)}, fixed={"lr": 0.5})
