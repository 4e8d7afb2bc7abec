"""The TIFF (``.tif``, ``.tiff``, tifffile, spacing and origin as JSON in the
ImageDescription) and NumPy (``.npy``, ``.npz``) readers: shape and dtype are checked from
the headers before any array is decoded."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from napari_msdl.volume.formats.common import (
    _check_dtype,
    _check_file_holds,
    _check_size,
    _ContentError,
    _Unreadable,
)


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        if len(tif.series) != 1:
            raise _ContentError(f"holds {len(tif.series)} image series; a volume file holds one")
        series = tif.series[0]
        if "S" in series.axes:
            raise _ContentError(f"is a colour TIFF (axes {series.axes}); a scalar volume is "
                                "needed")
        _check_dtype(series.dtype)
        _check_size(series.shape, series.dtype.itemsize)
        data = series.asarray()
        meta = (tif.shaped_metadata or ({},))[0]
    spacing = meta.get("spacing", np.ones(3))
    return data, _diagonal(spacing), _vector(meta.get("origin", np.zeros(3)), "origin")


def _npy_header(fp, what: str):
    """(shape, dtype, data offset) from the header of a .npy stream, nothing decoded."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
    except ValueError:
        raise _Unreadable(f"{what} is not a .npy array (no NumPy magic)") from None
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    if version not in readers:
        raise _Unreadable(f"{what} has .npy format version {version}, which is not read")
    shape, _, dtype = readers[version](fp)
    return shape, dtype, fp.tell()


def _check_npy(fp, what: str, max_voxels: int | None = None):
    """Check a .npy header's dtype and size (``max_voxels`` for small arrays)."""
    shape, dtype, offset = _npy_header(fp, what)
    _check_dtype(dtype, what)
    _check_size(shape, dtype.itemsize)
    if max_voxels is not None and math.prod(shape) > max_voxels:
        raise _ContentError(f"{what} has shape {shape}; at most {max_voxels} values expected")
    return shape, dtype, offset


def _read_npy(path: Path):
    with open(path, "rb") as f:
        shape, dtype, offset = _check_npy(f, "the array")
    _check_file_holds(path, offset, math.prod(shape) * dtype.itemsize)
    return np.load(path, allow_pickle=False), np.eye(3), np.zeros(3)


def _npz_array(npz, key: str, max_voxels: int | None = None) -> np.ndarray:
    """Member ``key`` of an open .npz, its header checked before it is decoded."""
    names = npz.zip.namelist()
    member = f"{key}.npy" if f"{key}.npy" in names else key
    with npz.zip.open(member) as fp:
        _check_npy(fp, f"{key!r}", max_voxels)
    return npz[key]


def _read_npz(path: Path):
    npz = np.load(path, allow_pickle=False)
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise _Unreadable("is a .npy array, not a .npz archive")
    with npz:
        if "data" not in npz.files:
            raise _ContentError(f"has no 'data' array (it holds {npz.files}); expected the keys "
                                "data, spacing, origin")
        data = _npz_array(npz, "data")
        spacing = _npz_array(npz, "spacing", 16) if "spacing" in npz.files else np.ones(3)
        origin = _npz_array(npz, "origin", 16) if "origin" in npz.files else np.zeros(3)
    return data, _diagonal(spacing), _vector(origin, "origin")


def _vector(values, field: str) -> np.ndarray:
    """Stored numbers as a flat float64 array; ``_ContentError`` if they are not numbers."""
    try:
        return np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise _ContentError(f"{field} must be 3 numbers (mm), got {values!r}"[:300]) from None


def _diagonal(spacing) -> np.ndarray:
    """The voxel axes of an explicitly stored spacing, which must be 3 positive numbers
    (a negative one is an error here, not a flip)."""
    spacing = _vector(spacing, "spacing")
    if spacing.shape != (3,) or not np.all(spacing > 0) or not np.all(np.isfinite(spacing)):
        raise _ContentError(f"spacing must be 3 positive finite values (mm), got "
                            f"{spacing.tolist()}")
    return np.diag(spacing)
