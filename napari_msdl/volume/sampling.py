"""Batched trilinear sampling of a volume at arbitrary physical points.

``sample(volume, points)`` reads the volume at N points given in mm (DESIGN.md's physical
coordinates, ``index = (p - origin) / spacing``) and returns float32 values. Outside the
volume it reads 0 with zero-padding semantics: the voxels beyond the array are 0 and the
interpolation blends toward them, so a point half a voxel past the last voxel reads half of
its value and a point one voxel (or more) past it reads 0. This is exactly
``scipy.ndimage.map_coordinates(data, index.T, order=1, mode="grid-constant", cval=0)`` and
``torch.nn.functional.grid_sample(..., padding_mode="zeros", align_corners=True)``.
Non-finite points read 0.

The kernel is a numba loop over points that runs in parallel on all cores and reads the
data in its own dtype (uint8 stays uint8 in memory: no float copy of the volume per call).
Each (data dtype, point dtype) pair is compiled once, on first use, and cached on disk.
In a process forked after the first call (a DataLoader or multiprocessing worker) a serial
copy of the kernel runs instead, since the parent's thread pool cannot be used there.
"""

from __future__ import annotations

import os
import threading

import numba
import numpy as np

from napari_msdl.volume.volume import Volume

__all__ = ["sample"]


@numba.njit(cache=True)
def _read(data, i, j, k):
    """The voxel value at integer indices, 0 outside the array."""
    n0, n1, n2 = data.shape
    if 0 <= i < n0 and 0 <= j < n1 and 0 <= k < n2:
        return float(data[i, j, k])
    return 0.0


@numba.njit(cache=True, boundscheck=False)
def _interpolate(data, x, y, z):
    """The zero-padded trilinear value at fractional index (x, y, z)."""
    n0, n1, n2 = data.shape
    # Written so that NaN fails the test and reads 0.
    if not (-1.0 < x < n0 and -1.0 < y < n1 and -1.0 < z < n2):
        return 0.0
    fx = np.floor(x)
    fy = np.floor(y)
    fz = np.floor(z)
    i = int(fx)
    j = int(fy)
    k = int(fz)
    tx = x - fx
    ty = y - fy
    tz = z - fz
    if 0 <= i and i + 1 < n0 and 0 <= j and j + 1 < n1 and 0 <= k and k + 1 < n2:
        v000 = float(data[i, j, k])
        v001 = float(data[i, j, k + 1])
        v010 = float(data[i, j + 1, k])
        v011 = float(data[i, j + 1, k + 1])
        v100 = float(data[i + 1, j, k])
        v101 = float(data[i + 1, j, k + 1])
        v110 = float(data[i + 1, j + 1, k])
        v111 = float(data[i + 1, j + 1, k + 1])
    else:
        v000 = _read(data, i, j, k)
        v001 = _read(data, i, j, k + 1)
        v010 = _read(data, i, j + 1, k)
        v011 = _read(data, i, j + 1, k + 1)
        v100 = _read(data, i + 1, j, k)
        v101 = _read(data, i + 1, j, k + 1)
        v110 = _read(data, i + 1, j + 1, k)
        v111 = _read(data, i + 1, j + 1, k + 1)
    c00 = v000 + (v001 - v000) * tz
    c01 = v010 + (v011 - v010) * tz
    c10 = v100 + (v101 - v100) * tz
    c11 = v110 + (v111 - v110) * tz
    c0 = c00 + (c01 - c00) * ty
    c1 = c10 + (c11 - c10) * ty
    return c0 + (c1 - c0) * tx


@numba.njit(parallel=True, cache=True, boundscheck=False)
def _sample_parallel(data, points, origin, spacing, out):
    for p in numba.prange(points.shape[0]):
        out[p] = _interpolate(data, (points[p, 0] - origin[0]) / spacing[0],
                              (points[p, 1] - origin[1]) / spacing[1],
                              (points[p, 2] - origin[2]) / spacing[2])


@numba.njit(cache=True, boundscheck=False)
def _sample_serial(data, points, origin, spacing, out):
    for p in range(points.shape[0]):
        out[p] = _interpolate(data, (points[p, 0] - origin[0]) / spacing[0],
                              (points[p, 1] - origin[1]) / spacing[1],
                              (points[p, 2] - origin[2]) / spacing[2])


# The parallel kernel's thread pool belongs to the process that started it: a forked child
# (a DataLoader or multiprocessing worker) must not touch it (GNU OpenMP aborts the child),
# and numba's fallback "workqueue" pool must not be entered by two threads at once.
_POOL_OWNER: list[int] = []
_POOL_LOCK = threading.Lock()


def _run_kernel(data, points, origin, spacing, out) -> None:
    if _POOL_OWNER and _POOL_OWNER[0] != os.getpid():
        _sample_serial(data, points, origin, spacing, out)
        return
    with _POOL_LOCK:
        if not _POOL_OWNER:
            _POOL_OWNER.append(os.getpid())
        _sample_parallel(data, points, origin, spacing, out)


def _as_points(points) -> tuple[np.ndarray, tuple[int, ...]]:
    """``points`` (numpy or torch, shape (..., 3)) as an (N, 3) float32/float64 numpy array,
    and the leading shape to give the result."""
    if hasattr(points, "detach"):  # a torch tensor, on any device
        points = points.detach().cpu().numpy()
    points = np.asarray(points)
    if points.ndim == 0 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (N, 3) in mm, got shape {points.shape}")
    if points.dtype not in (np.float32, np.float64) or not points.dtype.isnative:
        points = points.astype(np.float64)
    return points.reshape(-1, 3), points.shape[:-1]


def _kernel_data(data: np.ndarray) -> np.ndarray:
    """``data`` as the kernel can read it: the same array except for the rare dtypes numba
    does not handle (float16, non-native byte order), which are converted once."""
    if data.dtype.kind == "b":
        return data.view(np.uint8)
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if not data.dtype.isnative:
        return data.astype(data.dtype.newbyteorder("="))
    return data


def sample(volume: Volume, points) -> np.ndarray:
    """Trilinearly interpolated values of ``volume`` at physical ``points`` (mm).

    ``points`` is an (N, 3) numpy array or torch tensor (any leading shape ``(..., 3)``
    works); the result is a float32 numpy array of shape ``(N,)`` (or ``(...)``). Points
    outside the volume read 0, blending toward 0 within one voxel of the edge.
    """
    if not isinstance(volume, Volume):
        raise TypeError(f"sample() needs a Volume, got {type(volume).__name__}")
    flat, lead_shape = _as_points(points)
    out = np.empty(flat.shape[0], dtype=np.float32)
    if flat.shape[0]:
        _run_kernel(_kernel_data(volume.data), flat, np.asarray(volume.origin, np.float64),
                    np.asarray(volume.spacing, np.float64), out)
    return out.reshape(lead_shape)
