"""Dey et al.'s metrics on the seed's own example (Figure 6) and on known cases."""

import numpy as np
import pytest

from napari_msdl.sparse import SADNN, NetworkConfig, SparseLinear
from napari_msdl.sparse.connectivity import (
    density,
    fan_in,
    fan_out,
    model_junctions,
    network_scatter,
    path_matrix,
    scatter,
    uniform_fan_in,
    uniform_fan_out,
    window_adjacency,
)
from napari_msdl.sparse.patterns import random_fixed_fan

# The seed's "Window Adjacent Matrix" slide: junction 1 (8 -> 4) and junction 2 (4 -> 4).
A1 = np.array([[0, 0, 0, 0, 1, 0, 1, 0],
               [0, 0, 1, 0, 0, 0, 0, 1],
               [1, 0, 0, 0, 0, 1, 0, 0],
               [0, 1, 0, 1, 0, 0, 0, 0]])
A2 = np.array([[1, 0, 0, 1],
               [0, 0, 1, 1],
               [1, 1, 0, 0],
               [0, 1, 1, 0]])


def test_seed_densities():
    assert density(A1) == 0.25
    assert density(A2) == 0.5
    assert density([A1, A2]) == pytest.approx(16 / 48)
    assert round(100 * density([A1, A2])) == 33


def test_seed_fans():
    np.testing.assert_array_equal(fan_in(A1), [2, 2, 2, 2])
    np.testing.assert_array_equal(fan_out(A1), [1] * 8)
    assert (uniform_fan_in(A1), uniform_fan_out(A1)) == (2, 1)
    assert (uniform_fan_in(A2), uniform_fan_out(A2)) == (2, 2)
    assert uniform_fan_out(np.array([[1, 1], [0, 1]])) is None


def test_seed_window_adjacency():
    a_in, a_out = window_adjacency(A1)
    np.testing.assert_array_equal(a_in, [[0, 2], [1, 1], [1, 1], [2, 0]])
    np.testing.assert_array_equal(a_out, [[1, 1, 1, 1, 1, 1, 1, 1]])


def test_seed_scatter_by_hand():
    # A1: 6 of the 8 input-window entries reach 1; every output-window entry does.
    assert scatter(A1).forward == 0.75 and scatter(A1).backward == 1.0
    # A2: windows {0,1},{2,3}; rows give [1,1],[0,2],[2,0],[1,1]; columns alike.
    assert (scatter(A2).forward, scatter(A2).backward) == (0.75, 0.75)
    # End to end: the 4x8 path matrix A2 @ A1, 4 input windows of 2, 2 output windows of 2.
    p = path_matrix([A1, A2])
    np.testing.assert_array_equal(p, A2 @ A1)
    assert (scatter([A1, A2]).forward, scatter([A1, A2]).backward) == (0.875, 0.75)
    net = network_scatter([A1, A2])
    assert net.values == [0.75, 1.0, 0.75, 0.75, 0.875, 0.75]
    assert net.minimum == 0.75


def test_scatter_matches_the_reference_formula():
    """adjmatint.scatter: window counts / ideal count, clipped at 1, averaged."""
    a = random_fixed_fan(64, 16, fan_in=8, seed=3)
    windows = np.arange(64).reshape(8, 8)  # 8 = fan-in windows of 8 inputs
    woam = np.array([[a[i, w].sum() for w in windows] for i in range(16)], float)
    ideal = windows.shape[1] * a[0].sum() / 64
    expected = np.minimum(woam / ideal, 1).mean()
    assert scatter(a).forward == pytest.approx(expected)


def test_dense_and_perfect_patterns_have_scatter_one():
    assert scatter(np.ones((5, 7), int)) == scatter(np.ones((5, 7), int))
    assert scatter(np.ones((5, 7), int)).min == 1.0
    assert scatter(np.eye(6, dtype=int)).min == 1.0


def test_varying_fan_uses_rounded_mean_windows():
    a = np.zeros((3, 9), int)
    a[0, :3] = a[1, :5] = a[2, 3:6] = 1  # fan-in 3, 5, 3 -> mean 11/3 -> 4 windows
    a_in, a_out = window_adjacency(a)
    assert a_in.shape == (3, 4) and a_in.sum() == a.sum()
    assert a_out.shape == (1, 9)  # mean fan-out 11/9 -> 1 window


def test_sparse_linear_and_networks():
    layer = SparseLinear(8, 4)
    layer.set_mask_(A1)
    assert density(layer) == 0.25
    np.testing.assert_array_equal(window_adjacency(layer)[0], [[0, 2], [1, 1], [1, 1], [2, 0]])
    model = SADNN(NetworkConfig(n_inputs=8, hidden=(4, 3)), seed=0)
    model.first.set_mask_(A1)
    mats = model_junctions(model)
    assert [m.shape for m in mats] == [(4, 8), (3, 4), (1, 3)]
    net = network_scatter(model)
    assert len(net.values) == 2 * 3 + 2
    assert net.values[:2] == [0.75, 1.0] and net.values[2:6] == [1.0] * 4


def test_bad_junctions_are_refused():
    with pytest.raises(ValueError, match="0 and 1"):
        density(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="2D"):
        density(np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="chain"):
        density([A1, np.ones((2, 3), int)])
