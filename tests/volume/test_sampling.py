"""Batched trilinear sampling: analytic values, scipy and torch agreement, zero padding."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_msdl.volume import Volume, sample


def linear_volume(a, b, shape=(7, 9, 5), spacing=(0.5, 0.8, 1.3), origin=(-3.0, 10.0, 2.5)):
    vol = Volume(np.zeros(shape), spacing=spacing, origin=origin)
    index = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1)
    return Volume(vol.index_to_world(index) @ a + b, spacing=spacing, origin=origin)


def test_linear_function_is_reproduced_inside():
    rng = np.random.default_rng(0)
    a, b = np.array([1.5, -2.0, 0.7]), 4.0
    vol = linear_volume(a, b)
    points = vol.origin + rng.random((5000, 3)) * vol.extent
    values = sample(vol, points)
    assert values.dtype == np.float32 and values.shape == (5000,)
    np.testing.assert_allclose(values, points @ a + b, rtol=1e-5, atol=1e-5)
    corners = vol.origin + np.array([[0, 0, 0], [1, 1, 1], [1, 0, 1]]) * vol.extent
    np.testing.assert_allclose(sample(vol, corners), corners @ a + b, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64,
                                   np.bool_, np.float16])
def test_matches_map_coordinates_grid_constant_inside_and_outside(dtype):
    rng = np.random.default_rng(1)
    data = (rng.random((6, 8, 5)) * 200).astype(dtype)
    vol = Volume(data, spacing=(0.7, 1.1, 0.9), origin=(5.0, -2.0, 0.5))
    index = rng.uniform(-2.0, np.array(data.shape) + 1, (20000, 3))
    points = vol.index_to_world(index)
    expected = ndimage.map_coordinates(data.astype(np.float64), index.T, order=1,
                                       mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(sample(vol, points), expected, rtol=1e-5, atol=1e-4)
    assert np.any(expected == 0) and np.any(expected > 0)


def test_zero_padding_at_the_edges_and_far_outside():
    data = np.full((4, 4, 4), 8.0)
    vol = Volume(data, spacing=(2.0, 2.0, 2.0), origin=(0.0, 0.0, 0.0))
    # Half a voxel before the first voxel (1 mm) blends half of it with the zero padding.
    points = np.array([[-1.0, 2.0, 2.0], [7.0, 2.0, 2.0], [-1.0, -1.0, 2.0], [-2.0, 2.0, 2.0],
                       [8.0, 2.0, 2.0], [1e6, 0, 0], [-1e9, 5, 5], [np.nan, 1, 1], [6, 6, 6]])
    np.testing.assert_allclose(sample(vol, points), [4, 4, 2, 0, 0, 0, 0, 0, 8])


def test_agrees_with_torch_grid_sample_zeros_align_corners():
    rng = np.random.default_rng(2)
    data = rng.random((5, 6, 7)).astype(np.float32)
    vol = Volume(data, spacing=(1.0, 0.5, 2.0), origin=(1.0, 2.0, 3.0))
    index = rng.uniform(-1.5, 7.5, (3000, 3))
    grid = 2 * index / (np.array(data.shape) - 1) - 1  # align_corners=True normalisation
    grid = torch.from_numpy(grid[:, ::-1].copy()).float().view(1, -1, 1, 1, 3)  # (x,y,z)=(k,j,i)
    expected = torch.nn.functional.grid_sample(
        torch.from_numpy(data)[None, None], grid, mode="bilinear", padding_mode="zeros",
        align_corners=True).flatten().numpy()
    np.testing.assert_allclose(sample(vol, vol.index_to_world(index)), expected, atol=1e-5)


def test_torch_points_any_leading_shape_and_views():
    rng = np.random.default_rng(3)
    data = rng.random((6, 7, 8))
    vol = Volume(data, spacing=(0.5, 0.5, 0.5), origin=(0.0, 0.0, 0.0))
    points = rng.uniform(-0.5, 4.0, (4, 5, 3))
    expected = sample(vol, points.reshape(-1, 3)).reshape(4, 5)
    for given in (points, torch.from_numpy(points), torch.from_numpy(points).float(),
                  points.astype(np.float32), points.astype(np.int64)):
        got = sample(vol, given)
        assert isinstance(got, np.ndarray) and got.shape == (4, 5) and got.dtype == np.float32
        np.testing.assert_allclose(got, sample(vol, np.asarray(given, np.float64)), atol=1e-6)
    np.testing.assert_allclose(sample(vol, points), expected)
    transposed = Volume(np.ascontiguousarray(data.transpose(2, 0, 1)).transpose(1, 2, 0))
    np.testing.assert_allclose(sample(transposed, points), sample(Volume(data), points))
    assert sample(vol, np.zeros((0, 3))).shape == (0,)


def test_bad_points_and_volume():
    vol = Volume(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"\(10, 2\)"):
        sample(vol, np.zeros((10, 2)))
    with pytest.raises(TypeError, match="Volume"):
        sample(np.ones((2, 2, 2)), np.zeros((1, 3)))


def _sample_in_child(volume, points, queue):
    queue.put(sample(volume, points))


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="needs fork")
def test_a_forked_worker_can_sample_after_the_parent():
    """DataLoader workers are forked: the parent's thread pool must not be touched there."""
    vol = Volume(np.random.default_rng(4).random((6, 7, 8)))
    points = np.random.default_rng(5).uniform(-1, 8, (1000, 3))
    expected = sample(vol, points)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_sample_in_child, args=(vol, points, queue))
    child.start()
    got = queue.get(timeout=60)
    child.join(10)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, expected)
