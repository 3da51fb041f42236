"""Property tests for the three ways to write a space: counts, indices, determinism, names."""

from __future__ import annotations

import math
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestra.space import Config, Description, ExperimentGrid, Grid, Sample, Variant, Zip
from orchestra.space.naming import MAX_NAME, check_path_component

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SAFE = re.compile(r"[A-Za-z0-9._=+~-]+")

scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=12),  # includes '/', '..', NUL and non-ASCII
    st.text(alphabet="./\\\0 ", max_size=6),
    st.booleans(),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
names = st.text(alphabet="abcdefghij_", min_size=1, max_size=8)


def check_space(variants: list[Variant], expected: int) -> None:
    assert len(variants) == expected
    assert [v.index for v in variants] == list(range(expected))
    seen = [v.name for v in variants]
    assert len(set(seen)) == len(seen)
    for name in seen:
        assert len(name) <= MAX_NAME
        assert SAFE.fullmatch(name), name
        check_path_component(name, "variant name")


def same(a: list[Variant], b: list[Variant]) -> None:
    assert [(v.name, v.key, v.params) for v in a] == [(v.name, v.key, v.params) for v in b]


@st.composite
def configs(draw):
    keys = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    items: dict = {}
    expected = 1
    for k in keys:
        kind = draw(st.sampled_from(["grid", "fixed", "sample"]))
        if kind == "grid":
            vals = draw(st.lists(values, min_size=1, max_size=4))
            items[k] = Grid(vals)
            expected *= len(vals)
        elif kind == "fixed":
            items[k] = draw(values)
        else:
            drawn = draw(st.lists(scalars, min_size=1, max_size=3))
            counter = iter(range(10**9))
            items[k] = Sample(lambda drawn=drawn, counter=counter: drawn[next(counter) % len(drawn)])
    if draw(st.booleans()):
        n = draw(st.integers(1, 3))
        items[("zip_a", "zip_b")] = Zip(draw(st.lists(values, min_size=n, max_size=n)), list(range(n)))
        expected *= n
    num_sample = draw(st.integers(1, 3))
    has_sample = any(isinstance(v, Sample) for v in items.values())
    return items, num_sample, expected * (num_sample if has_sample else 1)


@SETTINGS
@given(configs())
def test_config_counts_indices_and_names(spec):
    items, num_sample, expected = spec
    config = Config(items, num_sample=num_sample)
    check_space(config.variants(), expected)
    assert [c["ID"] for c in config.make_configs()] == list(range(expected))


@SETTINGS
@given(configs())
def test_config_enumeration_is_deterministic(spec):
    items, num_sample, _ = spec
    fixed = {k: v for k, v in items.items() if not isinstance(v, Sample)}
    same(
        Config(fixed, num_sample=num_sample).variants(), Config(dict(fixed), num_sample=num_sample).variants()
    )


@st.composite
def grids(draw):
    eg = ExperimentGrid(draw(st.text(max_size=10)))
    parents = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    expected = 1
    for parent in parents:
        subs = draw(st.lists(names, max_size=2, unique=True))
        for key in [f"{parent}:{s}" for s in subs] or [parent]:
            vals = draw(st.lists(values, min_size=1, max_size=3))
            eg.add(key, vals, draw(st.one_of(st.none(), st.text(max_size=4))), draw(st.booleans()))
            expected *= len(vals)
    seeds = draw(st.lists(st.integers(0, 100), min_size=1, max_size=3, unique=True))
    if draw(st.booleans()):
        eg.add("seed", seeds)
        return eg, expected, expected * len(seeds)
    return eg, expected, expected


@SETTINGS
@given(grids())
def test_experiment_grid_counts_indices_and_names(spec):
    eg, without_seed, with_seed = spec
    check_space(eg.variants(), without_seed)
    assert len(eg.nested_variants()) == with_seed == len(eg)
    same(eg.variants(), eg.variants())


@st.composite
def descriptions(draw):
    expected = 1

    def section(depth):
        nonlocal expected
        out = {}
        for k in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
            kind = draw(
                st.sampled_from(["sweep", "fixed", "nested", "wrapped"] if depth < 2 else ["sweep", "fixed"])
            )
            if kind == "sweep":
                vals = draw(st.lists(scalars, min_size=1, max_size=3))
                expected *= len(vals)
                out[k] = vals
            elif kind == "fixed":
                out[k] = draw(scalars)
            elif kind == "wrapped":
                out[k] = [draw(st.lists(scalars, max_size=3))]
            else:
                out[k] = section(depth + 1)
        return out

    d = {"metaParameters": section(0), "name": draw(st.text(max_size=10))}
    return d, expected


@SETTINGS
@given(descriptions())
def test_description_counts_wrapping_and_names(spec):
    d, expected = spec
    desc = Description(d)
    assert desc.num_permutations == expected == math.prod(len(p.values) for p in desc.parameters)
    variants = desc.variants()
    check_space(variants, expected)
    same(variants, Description(d).variants())
    for i in (0, expected - 1):
        assert desc.permutation(i) == desc.permutation(i + expected)
        assert desc.run(i + 2 * expected) == 2
    assert len({v.key for v in variants}) == len({str(v.params) for v in variants})
