"""Isotropic resampling: grid placement, linear ramps, dtypes, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from napari_msdl.volume import Volume, resample_isotropic


def ramp(shape=(9, 6, 11), spacing=(0.5, 1.5, 0.8), origin=(-4.0, 3.0, 12.0), dtype=np.float64):
    index = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1)
    points = np.asarray(origin) + index * np.asarray(spacing)
    data = points @ np.array([2.0, -1.0, 3.0]) + 100.0
    return Volume(data.astype(dtype), spacing=spacing, origin=origin)


def world(vol: Volume) -> np.ndarray:
    index = np.stack(np.meshgrid(*map(np.arange, vol.shape), indexing="ij"), -1)
    return vol.index_to_world(index)


def test_linear_ramp_keeps_its_values_on_the_new_grid():
    vol = ramp()
    for spacing in (None, 0.5, 0.7, 1.2):
        out = resample_isotropic(vol, spacing)
        new = 0.5 if spacing is None else spacing
        np.testing.assert_allclose(out.spacing, [new] * 3)
        np.testing.assert_array_equal(out.origin, vol.origin)
        assert out.data.dtype == np.float64
        expected_shape = tuple(int(n) for n in np.floor(vol.extent / new + 1e-6) + 1)
        assert out.shape == expected_shape
        assert np.all(out.extent <= vol.extent + 1e-9)
        assert np.all(out.extent > vol.extent - new)
        expected = world(out) @ np.array([2.0, -1.0, 3.0]) + 100.0
        np.testing.assert_allclose(out.data, expected, atol=1e-9)


def test_whole_number_extent_keeps_the_last_voxel():
    vol = ramp(shape=(5, 3, 4), spacing=(1.0, 2.0, 1.0))
    out = resample_isotropic(vol)
    assert out.shape == (5, 5, 4)
    np.testing.assert_allclose(out.extent, vol.extent)
    np.testing.assert_allclose(out.data[-1, -1, -1], vol.data[-1, -1, -1])


def test_dtype_is_kept_with_rounding_or_chosen():
    vol = Volume((ramp().data / 10).astype(np.uint8), spacing=(0.5, 1.5, 0.8))
    out = resample_isotropic(vol, 0.25)
    assert out.data.dtype == np.uint8
    exact = resample_isotropic(vol, 0.25, dtype=np.float32)
    assert exact.data.dtype == np.float32
    np.testing.assert_array_equal(out.data, np.rint(exact.data))
    nearest = resample_isotropic(vol, 0.5, order=0)
    assert set(np.unique(nearest.data)) <= set(np.unique(vol.data))


def test_cubic_reproduces_the_ramp_away_from_the_faces():
    """Splines see the faces through their boundary condition; four voxels in, they don't."""
    vol = ramp(shape=(16, 16, 16))
    out = resample_isotropic(vol, 0.6, order=3)
    points = world(out)
    index = vol.world_to_index(points)
    inside = np.all((index >= 4) & (index <= np.array(vol.shape) - 5), axis=-1)
    assert inside.sum() > 100
    expected = points @ np.array([2.0, -1.0, 3.0]) + 100.0
    np.testing.assert_allclose(out.data[inside], expected[inside], atol=0.01)


@pytest.mark.parametrize("kwargs, message", [
    ({"spacing": 0.0}, "spacing"), ({"spacing": -1.0}, "spacing"),
    ({"spacing": float("nan")}, "spacing"), ({"order": 7}, "order"),
    ({"spacing": 1e-4}, "coarser"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        resample_isotropic(ramp(), **kwargs)
