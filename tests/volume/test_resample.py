"""Resampling: grid placement, linear ramps, anti-aliasing, zeros outside, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

from napari_msdl.volume import Volume, resample, resample_to

WEIGHTS = np.array([2.0, -1.0, 3.0])


def ramp(shape=(9, 6, 11), spacing=(0.5, 1.5, 0.8), origin=(-4.0, 3.0, 12.0)):
    index = np.stack(np.meshgrid(*map(np.arange, shape), indexing="ij"), -1)
    points = np.asarray(origin) + index * np.asarray(spacing)
    return Volume((points @ WEIGHTS + 100.0).astype(np.float32), spacing=spacing, origin=origin)


def world(vol: Volume) -> np.ndarray:
    index = np.stack(np.meshgrid(*map(np.arange, vol.shape), indexing="ij"), -1)
    return vol.index_to_world(index)


def test_upsampling_is_linear_interpolation_and_keeps_a_ramp():
    vol = ramp()
    out = resample(vol, 0.4)
    np.testing.assert_allclose(out.spacing, [0.4] * 3)
    np.testing.assert_array_equal(out.origin, vol.origin)
    assert out.shape == tuple(int(n) for n in np.floor(vol.extent / 0.4 + 1e-6) + 1)
    assert np.all(out.extent <= vol.extent + 1e-9) and np.all(out.extent > vol.extent - 0.4)
    np.testing.assert_allclose(out.data, world(out) @ WEIGHTS + 100.0, rtol=1e-5)


def test_downsampling_averages_and_keeps_a_ramp_inside():
    """A triangle filter is symmetric, so it keeps a linear function wherever all its taps
    lie inside the data; near the faces the missing taps read zero."""
    vol = ramp(shape=(40, 40, 40), spacing=(0.5, 0.5, 0.5))
    out = resample(vol, 1.5)
    points = world(out)
    index = vol.world_to_index(points)
    inside = np.all((index >= 3) & (index <= np.array(vol.shape) - 4), axis=-1)
    assert inside.sum() > 100
    np.testing.assert_allclose(out.data[inside], (points @ WEIGHTS + 100.0)[inside], rtol=1e-5)
    assert out.data[0, 0, 0] < vol.data[0, 0, 0]  # half of the taps fall outside


def test_downsampling_removes_what_the_new_grid_cannot_hold():
    """A checkerboard at the old Nyquist rate averages to its mean, not to an alias."""
    check = (np.indices((32, 32, 32)).sum(0) % 2).astype(np.float32)
    out = resample(Volume(check), 2.0)
    np.testing.assert_allclose(out.data[2:-2, 2:-2, 2:-2], 0.5, atol=1e-6)


def test_a_grid_beyond_the_data_reads_zero():
    data = np.ones((5, 5, 5), np.float32)
    out = resample_to(data, (1, 1, 1), (0, 0, 0), (3, 3, 3), (1, 1, 1), (10, 10, 10))
    assert out.dtype == np.float32 and out.shape == (3, 3, 3)
    np.testing.assert_array_equal(out, 0.0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.float64, bool])
def test_every_dtype_resamples_to_float32(dtype):
    data = (np.arange(64).reshape(4, 4, 4) % 2).astype(dtype)
    out = resample_to(data, (1, 1, 1), (0, 0, 0), (4, 4, 4), (1, 1, 1), (0, 0, 0))
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, data.astype(np.float32))


@pytest.mark.parametrize("spacing, message", [
    (0.0, "spacing"), (-1.0, "spacing"), (float("nan"), "spacing"), (1e-4, "coarser")])
def test_bad_arguments(spacing, message):
    with pytest.raises(ValueError, match=message):
        resample(ramp(), spacing)
