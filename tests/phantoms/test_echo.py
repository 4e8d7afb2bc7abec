"""Image formation: the TEE field of view, speckle statistics, scan conversion."""

import numpy as np

from napari_msdl.phantoms.echo import FieldOfView, beam_grid, scan_convert, speckle_power


def _fov():
    return FieldOfView(apex=(30.0, 32.0, -10.0), tan_u=0.7, tan_v=0.6, r_max=62.0, d_min=4.0)


def test_fov_contains_agrees_with_its_definition():
    fov = _fov()
    assert fov.contains([30.0, 32.0, 20.0])  # on the central beam
    assert not fov.contains([30.0, 32.0, -8.0])  # above the apex: d < d_min
    assert not fov.contains([30.0 + 0.71 * 30, 32.0, 20.0])  # beyond tan_u at depth 30
    assert fov.contains([30.0 + 0.69 * 30, 32.0, 20.0])
    assert not fov.contains([30.0, 32.0, 53.0])  # beyond r_max on the axis (d = 63)
    shape, spacing = (40, 44, 36), (1.5, 1.5, 1.5)
    mask = fov.mask(shape, spacing)
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    np.testing.assert_array_equal(mask, fov.contains(idx * np.array(spacing)))


def test_scan_conversion_fills_the_pyramid_and_nothing_else():
    fov = _fov()
    shape, spacing, origin = (40, 44, 36), np.array([1.5, 1.5, 1.5]), np.zeros(3)
    grid = beam_grid(fov, shape, spacing, origin, psf_lateral=1.0)
    assert grid.shape[0] == shape[2]  # one depth sample per z slice: axis 2 is depth
    out = scan_convert(np.full(grid.shape, 100.0, dtype=np.float32), grid, fov, shape, spacing,
                       origin)
    mask = fov.mask(shape, spacing, origin)
    assert out.dtype == np.uint8
    assert np.all(out[~mask] == 0) and np.all(out[mask] == 100)


def test_scan_conversion_interpolates_along_the_beams():
    fov = _fov()
    shape, spacing, origin = (40, 44, 36), np.array([1.5, 1.5, 1.5]), np.zeros(3)
    grid = beam_grid(fov, shape, spacing, origin, psf_lateral=1.0)
    ramp = np.broadcast_to((100 + 100 * grid.u / fov.tan_u)[None, :, None], grid.shape)
    out = scan_convert(ramp.astype(np.float32), grid, fov, shape, spacing, origin)
    x = np.arange(shape[0]) * spacing[0] - fov.apex[0]
    k = 30
    d = k * spacing[2] - fov.apex[2]
    expect = np.clip(np.rint(100 + 100 * x / d / fov.tan_u), 0, 255)
    row = out[:, 22, k].astype(float)
    inside = fov.mask(shape, spacing, origin)[:, 22, k]
    np.testing.assert_allclose(row[inside], expect[inside], atol=1.0)


def test_speckle_is_rayleigh_with_the_requested_power():
    rng = np.random.default_rng(0)
    power = speckle_power(np.full((64, 72, 72), 2.0), (0.8, 1.25, 1.25), rng)[6:-6, 6:-6, 6:-6]
    assert abs(power.mean() / 4.0 - 1) < 0.05
    envelope = np.sqrt(power)
    snr = envelope.mean() / envelope.std()
    assert abs(snr - np.sqrt(np.pi / (4 - np.pi))) < 0.05  # Rayleigh: 1.913


def test_speckle_grain_follows_the_point_spread_function():
    rng = np.random.default_rng(1)

    def correlation_length(sigmas, axis):
        p = speckle_power(np.ones((48, 64, 64)), sigmas, rng)[8:-8, 8:-8, 8:-8]
        p = p - p.mean()
        a, b = np.moveaxis(p, axis, 0)[:-1], np.moveaxis(p, axis, 0)[1:]
        return np.mean(a * b) / np.mean(p * p)

    assert correlation_length((0.6, 1.5, 1.5), 1) > correlation_length((0.6, 1.5, 1.5), 0) + 0.2
    assert correlation_length((0.6, 2.5, 2.5), 1) > correlation_length((0.6, 1.2, 1.2), 1) + 0.1
