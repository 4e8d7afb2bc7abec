"""Pre-defined patterns: the requested fans, clash freedom, seeds."""

import numpy as np
import pytest

from napari_msdl.sparse.connectivity import scatter
from napari_msdl.sparse.patterns import (
    clash_free,
    clash_free_order,
    random_density,
    random_fixed_fan,
)


@pytest.mark.parametrize(("n_in", "n_out", "fan_in"), [
    (8, 4, 2), (64, 16, 8), (216, 72, 150), (200, 100, 98), (5832, 72, 162), (12, 3, 12)])
def test_random_fixed_fan_gives_the_fans(n_in, n_out, fan_in):
    a = random_fixed_fan(n_in, n_out, fan_in=fan_in, seed=1)
    fo = n_out * fan_in // n_in
    assert a.shape == (n_out, n_in) and set(np.unique(a)) <= {0, 1}
    assert np.all(a.sum(axis=1) == fan_in) and np.all(a.sum(axis=0) == fo)


def test_random_fixed_fan_from_fan_out_and_seeds():
    a = random_fixed_fan(40, 10, fan_out=2, seed=5)
    assert np.all(a.sum(axis=1) == 8)
    np.testing.assert_array_equal(a, random_fixed_fan(40, 10, fan_out=2, seed=5))
    assert not np.array_equal(a, random_fixed_fan(40, 10, fan_out=2, seed=6))


def test_impossible_fans_are_refused():
    with pytest.raises(ValueError, match="N_in \\* fan_out"):
        random_fixed_fan(10, 3, fan_in=4, seed=0)
    with pytest.raises(ValueError, match="fan_in or fan_out"):
        random_fixed_fan(10, 5, seed=0)


@pytest.mark.parametrize("kind", [1, 2, 3])
@pytest.mark.parametrize("dither", [False, True])
def test_clash_free_patterns(kind, dither):
    n_in, n_out, fo, z = 40, 10, 2, 10
    order = clash_free_order(n_in, fo, z, seed=3, kind=kind, dither=dither)
    assert sorted(order) == sorted(list(range(n_in)) * fo)
    for cycle in order.reshape(-1, z):  # z reads per cycle, one from each memory
        assert sorted(cycle % z) == list(range(z))
    a = clash_free(n_in, n_out, fo, z, seed=3, kind=kind, dither=dither)
    assert np.all(a.sum(axis=1) == 8) and np.all(a.sum(axis=0) == fo)
    np.testing.assert_array_equal(a, clash_free(n_in, n_out, fo, z, seed=3, kind=kind,
                                                dither=dither))


def test_kind_3_repeats_the_sweep():
    order = clash_free_order(24, 3, 6, seed=0, kind=3).reshape(3, 24)
    assert np.all(order == order[0])


def test_clash_free_refuses_bad_z():
    with pytest.raises(ValueError, match="z must divide"):
        clash_free(40, 10, 2, 7, seed=0)


def test_random_density_and_scatter_comparison():
    a = random_density(100, 10, 0.1, seed=0)
    assert a.sum() == 100
    np.testing.assert_array_equal(a, random_density(100, 10, 0.1, seed=0))
    # Without a fan constraint some inputs feed nothing, so the backward scatter drops
    # below 1; a fixed fan-out of 1 (random or clash-free) has it at exactly 1.
    assert scatter(a).backward < 1.0
    assert scatter(random_fixed_fan(100, 10, fan_out=1, seed=0)).backward == 1.0
    assert scatter(clash_free(100, 10, 1, 10, seed=0)).backward == 1.0
