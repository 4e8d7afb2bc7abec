"""Resampling a volume onto another regular grid: the one resampler of the package.

A separable triangle filter (:func:`resample_to`): on each axis the filter's half-width is
the larger of the two spacings, so upsampling is linear interpolation and downsampling
averages over the new voxel (anti-aliasing). The weights are normalised as if the input
went on for ever, so the result fades to zero outside the input instead of extrapolating:
a grid that reaches past the data reads zeros there, which is what the detector's
zero-padded feature volume needs.

:func:`resample` is the same on :class:`~napari_msdl.volume.Volume` objects: a new
spacing (isotropic or per axis), by default on a grid that keeps the origin and covers the
old voxel centres (``floor(extent / spacing) + 1`` voxels per axis).
"""

from __future__ import annotations

import numba
import numpy as np

from napari_msdl.volume.volume import Volume

__all__ = ["resample", "resample_to"]

MAX_VOXELS = 2**31
"""A guard against a spacing typo asking for terabytes."""
_KERNEL_DTYPES = (np.uint8, np.uint16, np.int16, np.float32)
"""Input dtypes the kernel reads as they are; others are converted to float32 first."""


def _axis_taps(n_in: int, sp_in: float, o_in: float, n_out: int, sp_out: float,
               o_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Index (n_out, T) and weight tables of a triangle filter from one grid to another.

    The filter's half-width is the larger spacing (linear interpolation when upsampling,
    area-like averaging when downsampling). Weights are normalised as if the input went
    on for ever, so the result fades to zero outside the input instead of extrapolating.
    """
    r = max(sp_out, sp_in) / sp_in
    x = (o_out + np.arange(n_out) * sp_out - o_in) / sp_in
    n_taps = int(np.ceil(2 * r)) + 1
    first = np.floor(x - r).astype(np.int64) + 1
    idx = first[:, None] + np.arange(n_taps)[None, :]
    w = np.maximum(0.0, 1.0 - np.abs(idx - x[:, None]) / r)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
    inside = (idx >= 0) & (idx < n_in) & (w > 0)
    return np.where(inside, idx, -1), np.where(inside, w, 0.0).astype(np.float32)


@numba.njit(parallel=True, cache=True, nogil=True)
def _resample_axis0(x, idx, w, out):  # pragma: no cover - compiled
    for o in numba.prange(idx.shape[0]):
        out[o] = 0.0
        for t in range(idx.shape[1]):
            i = idx[o, t]
            if i >= 0:
                wt = w[o, t]
                for a in range(x.shape[1]):
                    for b in range(x.shape[2]):
                        out[o, a, b] += wt * x[i, a, b]


def _check_grid(name: str, value, positive: bool) -> np.ndarray:
    v = np.broadcast_to(np.asarray(value, dtype=np.float64), (3,)).copy()
    if not np.all(np.isfinite(v)) or (positive and np.any(v <= 0)):
        raise ValueError(f"{name} must be {'positive ' if positive else ''}finite numbers "
                         f"(mm, per axis), got {value!r}")
    return v


def resample_to(data: np.ndarray, spacing, origin, out_shape, out_spacing,
                out_origin) -> np.ndarray:
    """``data`` (3D, on the grid ``origin + index * spacing``) resampled onto the grid of
    ``out_shape`` voxels at ``out_origin + index * out_spacing`` (mm), as float32."""
    data = np.asarray(data)
    if data.ndim != 3:
        raise ValueError(f"resample_to needs a 3D array, got shape {data.shape}")
    spacing = _check_grid("spacing", spacing, True)
    origin = _check_grid("origin", origin, False)
    out_spacing = _check_grid("out_spacing", out_spacing, True)
    out_origin = _check_grid("out_origin", out_origin, False)
    shape = np.broadcast_to(np.asarray(out_shape), (3,))
    if np.any(shape < 1) or float(np.prod(shape.astype(np.float64))) > MAX_VOXELS:
        raise ValueError(f"out_shape must be 3 sizes >= 1 with at most {MAX_VOXELS} voxels in "
                         f"all, got {tuple(int(n) for n in shape)}; choose a coarser spacing")
    x = data if data.dtype in _KERNEL_DTYPES else data.astype(np.float32)
    for axis in range(3):
        idx, w = _axis_taps(x.shape[0], float(spacing[axis]), float(origin[axis]),
                            int(shape[axis]), float(out_spacing[axis]),
                            float(out_origin[axis]))
        out = np.empty((idx.shape[0], *x.shape[1:]), dtype=np.float32)
        _resample_axis0(x, idx, w, out)
        x = np.moveaxis(out, 0, -1)
    return np.ascontiguousarray(x)


def resample(volume: Volume, spacing, origin=None, shape=None) -> Volume:
    """``volume`` resampled to ``spacing`` (mm, one number or one per axis), float32.

    The new grid starts at ``origin`` (default: the volume's) and has ``shape`` voxels
    (default: ``floor(extent / spacing) + 1`` per axis, covering the old voxel centres
    without extrapolating past them).
    """
    if not isinstance(volume, Volume):
        raise TypeError(f"resample() needs a Volume, got {type(volume).__name__}")
    spacing = _check_grid("spacing", spacing, True)
    origin = volume.origin if origin is None else _check_grid("origin", origin, False)
    if shape is None:
        # a small tolerance so that an extent that is a whole number of voxels keeps its end
        shape = np.floor(volume.extent / spacing + 1e-6).astype(np.int64) + 1
    out = resample_to(volume.data, volume.spacing, volume.origin, shape, spacing, origin)
    return Volume(out, spacing=spacing, origin=origin)
