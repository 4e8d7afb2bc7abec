"""Resampling a volume onto an isotropic grid.

The new grid keeps the origin: voxel 0 stays at the same physical point, and new voxel
``n`` lies at ``origin + n * spacing`` on every axis. It covers the old voxel centres from
the first to the last, ``extent = (shape - 1) * old_spacing``, with
``floor(extent / spacing) + 1`` voxels per axis. When the extent is not a whole number of
new voxels, the last new voxel falls short of the old last voxel by less than one new
spacing: the grid never extrapolates past the data, and the remainder is dropped.

Order 1 (trilinear, the default) reproduces a linear ramp exactly; higher spline orders
use scipy's "nearest" boundary condition, which bends the values within a few voxels of the
faces.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike
from scipy import ndimage

from napari_msdl.volume.volume import Volume

__all__ = ["resample_isotropic"]

_MAX_VOXELS = 2**31  # a guard against a spacing typo asking for terabytes


def resample_isotropic(volume: Volume, spacing: float | None = None, order: int = 1,
                       dtype: DTypeLike | None = None) -> Volume:
    """``volume`` resampled to the isotropic ``spacing`` (mm; None: the finest of its
    spacings) by spline interpolation of ``order`` (0 nearest, 1 trilinear, up to 5).

    The result has the same origin and the input's dtype unless ``dtype`` is given;
    integer results are rounded to the nearest value and clipped to the dtype's range.
    """
    if not isinstance(volume, Volume):
        raise TypeError(f"resample_isotropic() needs a Volume, got {type(volume).__name__}")
    if not (isinstance(order, (int, np.integer)) and 0 <= order <= 5):
        raise ValueError(f"order must be an integer from 0 to 5, got {order!r}")
    new = float(np.min(volume.spacing)) if spacing is None else float(spacing)
    if not (np.isfinite(new) and new > 0):
        raise ValueError(f"spacing must be a positive number of mm, got {spacing!r}")
    out_dtype = np.dtype(volume.data.dtype if dtype is None else dtype)
    # A small tolerance so that an extent that is a whole number of voxels keeps its end.
    shape = np.floor(volume.extent / new + 1e-6).astype(np.int64) + 1
    if int(np.prod(shape)) > _MAX_VOXELS:
        raise ValueError(f"resampling {volume!r} to {new} mm would give shape "
                         f"{tuple(shape.tolist())}; choose a coarser spacing")
    data = volume.data
    if data.dtype.kind == "b" or data.dtype == np.float16:
        data = data.astype(np.float32)
    work = np.float64 if data.dtype == np.float64 else np.float32
    values = ndimage.affine_transform(
        data, new / volume.spacing, offset=0.0, output_shape=tuple(shape.tolist()),
        output=work, order=order, mode="nearest", prefilter=order > 1)
    if out_dtype.kind in "biu":
        if out_dtype.kind == "b":
            values = values >= 0.5
        else:
            info = np.iinfo(out_dtype)
            values = np.clip(np.rint(values), info.min, info.max)
    return Volume(values.astype(out_dtype, copy=False), spacing=(new, new, new),
                  origin=volume.origin)
