"""Reading and writing volumes with their spacing and origin.

Formats, chosen by extension (a folder is a DICOM series):

- NIfTI ``.nii`` / ``.nii.gz`` (nibabel): axes 0, 1, 2 are the file's i, j, k as nibabel
  returns them; spacing is the length of the affine's columns, origin its translation.
- NRRD ``.nrrd`` / ``.nhdr`` and MetaImage ``.mha`` / ``.mhd`` (SimpleITK): ITK's array is
  (k, j, i) and is transposed so that axis 0 is ITK's i; ``GetSpacing`` and ``GetOrigin``
  are already in i, j, k order.
- DICOM series folders (read only): the headers are read with SimpleITK (GDCM) and checked
  first, then each slice is decoded on its own and stacked in the order of its position.
  Axis 0 runs along ImageOrientationPatient's row direction, axis 1 along its column
  direction, axis 2 along the slice normal (their cross product); in-plane spacing is
  PixelSpacing, the slice spacing is derived from ImagePositionPatient projected on the
  normal (SliceThickness and SpacingBetweenSlices are not used), the origin is the position
  of the first slice. A single DICOM file is refused: pass the folder of its series. Every
  file in the folder must be a readable DICOM slice, except hidden files, DICOMDIR and files
  named like documents or pictures (``.txt``, ``.json``, ``.png``, ...): a slice cut short
  would otherwise be skipped without a word.
- TIFF ``.tif`` / ``.tiff`` (tifffile): spacing and origin are kept as JSON in the
  ImageDescription; a TIFF without it loads with spacing 1 and origin 0.
- NumPy ``.npy`` (spacing 1, origin 0) and ``.npz`` (keys ``data``, ``spacing``, ``origin``).

Spacing and origin are the file's own numbers, in its own world frame (RAS for NIfTI, LPS
for the ITK formats and DICOM); nothing is converted between frames.

Direction matrix (the affine's columns divided by the spacing): the identity is taken as
it is. A signed axis permutation (the common NIfTI/DICOM flips such as diag(-1, -1, 1), or
swapped axes) is undone exactly: the array is flipped and transposed and spacing and origin
adjusted so that every voxel keeps its physical position while the direction becomes the
identity. An oblique direction cannot be represented without resampling, so it is refused
with a ``ValueError`` that names the file and the matrix.

Arrays must be 3D; trailing axes of length 1 (a 4D NIfTI of shape (x, y, z, 1)) are
dropped, any other 2D or 4D array is refused. The dtype is kept (uint8 stays uint8).

What is refused, and why. A reader that guesses would put voxels in the wrong place, so
every doubt is a ``ValueError`` (``FileNotFoundError`` for a missing path) whose one line
names the file and the field:

- Spacing that is zero, negative, NaN, infinite or outside ``SPACING_RANGE_MM``, origins
  or direction matrices holding NaN or infinity, and voxels farther than
  ``MAX_POSITION_MM`` from the world origin, in every format. The header is read directly
  where the library would hide it: nibabel sets a zero pixdim to 1, SimpleITK reads a NaN
  NRRD spacing or MetaImage offset as 1 or 0, and turns a negative spacing into a flip.
  MetaImage direction matrices must be rotations (a scaled one would change the spacing).
- NIfTI headers whose sform and qform disagree (tools differ in which one they use), or
  whose xform codes are not NIfTI codes.
- DICOM folders mixing series or slice orientations (the groups and their file counts are
  listed), slices that are not evenly spaced along the normal (the uneven gaps are listed),
  repeated positions, stacks sheared within the slice plane, a single slice (a 2D image with
  no slice spacing), multi-frame files, slices of different sizes or pixel spacings, and
  missing ImageOrientationPatient, ImagePositionPatient or PixelSpacing. Each file's element
  lengths are walked before GDCM sees it: GDCM allocates a stated length before reading it
  (a flipped byte in a 40 KB slice cost 3.7 GB).
- Anything larger than ``MAX_VOXELS`` voxels or ``MAX_DECODED_BYTES`` decoded, colour or
  multi-component images, TIFFs holding several image series, and uncompressed (or gzip)
  files shorter than their header promises, judged from the header before any pixel is
  decoded.
- Data files named by a header (``ElementDataFile`` of a MetaImage, ``data file`` of a
  NRRD) that are absolute or lie outside the header's folder (``/dev/zero``, ``../x``), or
  that are lists or patterns of files. Paths that are not regular files or folders.
- dtypes other than bool, integers up to 64 bit and float16/32/64 (float128, complex,
  object, structured and string arrays), with the dtype in the message.
- Files that cannot be parsed (random bytes, truncated, empty): the library's error is
  kept as the cause and summarised on the same line.

Writes are atomic: a file appears whole or not at all (``.mhd`` and ``.nhdr`` are two
files: the data file is replaced first, then the header).

The readers and writers live in ``napari_msdl.volume.formats``, one module per format
family; this module chooses among them by extension, undoes axis permutations, checks
the geometry and holds the limits named above (changing them here takes effect).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from napari_msdl._io import atomic_path
from napari_msdl.volume.formats.arrays import _read_npy, _read_npz, _read_tiff
from napari_msdl.volume.formats.common import (
    SUPPORTED_EXTENSIONS,
    _check_dtype,
    _ContentError,
    _fmt,
    _one_line,
    _Unreadable,
)
from napari_msdl.volume.formats.dicom import _read_dicom, _refuse_dicom_file
from napari_msdl.volume.formats.itk import _read_meta, _read_nrrd
from napari_msdl.volume.formats.nifti import _read_nifti
from napari_msdl.volume.formats.writers import _ITK_DTYPES, _WRITERS, _write_detached
from napari_msdl.volume.volume import Volume

__all__ = ["MAX_DECODED_BYTES", "MAX_POSITION_MM", "MAX_VOXELS", "SPACING_RANGE_MM",
           "SUPPORTED_EXTENSIONS", "load_volume", "save_volume"]

#: The most voxels a volume may have; checked from the header, before decoding.
MAX_VOXELS = 2**31
#: The most bytes a decoded volume may take; checked from the header, before decoding.
MAX_DECODED_BYTES = 16 * 2**30
#: Accepted spacing (mm). Outside it positions overflow or neighbouring voxels coincide.
SPACING_RANGE_MM = (1e-6, 1e6)
#: Largest accepted distance (mm) of any voxel from the world origin.
MAX_POSITION_MM = 1e9

_AXIS_TOL = 1e-5  # how far a direction entry may be from 0 or +-1 (float32 affines)


def _extension(path: Path) -> str:
    """The supported extension ``path`` ends with; ``ValueError`` listing them otherwise."""
    name = path.name.lower()
    for ext in SUPPORTED_EXTENSIONS:
        if name.endswith(ext):
            return ext
    raise ValueError(f"{path}: unknown volume format {''.join(path.suffixes) or '(none)'!r}; "
                     f"supported: {', '.join(SUPPORTED_EXTENSIONS)}, or a folder holding a "
                     "DICOM series")


_READERS = {".nii.gz": _read_nifti, ".nii": _read_nifti, ".nrrd": _read_nrrd,
            ".nhdr": _read_nrrd, ".mha": _read_meta, ".mhd": _read_meta, ".tif": _read_tiff,
            ".tiff": _read_tiff, ".npy": _read_npy, ".npz": _read_npz}


# ---------------------------------------------------------------- orientation and loading


def _check_geometry(spacing: np.ndarray, axes: np.ndarray, origin: np.ndarray,
                    shape) -> None:
    """Refuse non-finite axes, spacing outside ``SPACING_RANGE_MM`` and voxels farther than
    ``MAX_POSITION_MM`` from the world origin (``Volume`` refuses a non-finite origin)."""
    if not np.all(np.isfinite(axes)):
        raise _ContentError(f"the voxel axes (spacing x direction) hold NaN or infinite "
                            f"values: {axes.tolist()}")
    low, high = SPACING_RANGE_MM
    if not np.all((spacing >= low) & (spacing <= high)):
        raise _ContentError(f"spacing must be positive, finite and within {low:g} to {high:g} "
                            f"mm, got {_fmt(spacing)}")
    far = np.abs(origin) + np.abs(axes) @ (np.asarray(shape, dtype=np.float64) - 1)
    if far.max() > MAX_POSITION_MM:
        raise _ContentError(f"voxels lie up to {far.max():.3g} mm from the world origin (origin "
                            f"{_fmt(origin)}, spacing {_fmt(spacing)}); at most "
                            f"{MAX_POSITION_MM:g} mm is accepted")


def _axis_aligned(data: np.ndarray, axes: np.ndarray, origin: np.ndarray, path: Path):
    """Undo a signed axis permutation in ``axes`` (3x3, column d = step of array axis d in
    mm): return (data, spacing, origin) with an identity direction, every voxel in place."""
    spacing = np.hypot.reduce(axes, axis=0)  # no overflow for huge stated spacings
    try:
        _check_geometry(spacing, axes, origin, data.shape)
    except _ContentError as e:
        raise ValueError(f"{path}: {e}") from None
    direction = axes / spacing
    rows = np.abs(direction).argmax(axis=0)  # the world axis each array axis runs along
    signs = np.sign(direction[rows, [0, 1, 2]])
    permutation = np.zeros((3, 3))
    permutation[rows, [0, 1, 2]] = signs
    if sorted(rows) != [0, 1, 2] or np.abs(direction - permutation).max() > _AXIS_TOL:
        raise ValueError(
            f"{path}: the direction matrix {np.round(direction, 6).tolist()} is oblique (not "
            "a permutation of the axes with signs); napari-msdl needs axis-aligned volumes. "
            "Resample it onto an axis-aligned grid first (e.g. SimpleITK.Resample with an "
            "identity direction, or nibabel.processing.resample_to_output) and save it again")
    origin = origin.copy()
    for axis in range(3):
        if signs[axis] < 0:  # voxel n-1 becomes index 0: the origin moves to it
            origin[rows[axis]] -= (data.shape[axis] - 1) * spacing[axis]
    data = np.flip(data, axis=tuple(int(a) for a in np.flatnonzero(signs < 0)))
    order = np.argsort(rows)  # new axis d is the old axis running along world axis d
    data = np.ascontiguousarray(np.transpose(data, order))
    return data, spacing[order], origin


def _read(path: Path):
    """(data, axes, origin) of ``path`` as its reader returns them; every failure is a
    ``ValueError`` naming the file."""
    if path.is_dir():
        fmt, reader = "DICOM series", _read_dicom
    elif not path.is_file():
        raise ValueError(f"{path}: is neither a regular file nor a folder (a device, pipe or "
                         "socket?); it is not read")
    else:
        try:
            ext = _extension(path)
        except ValueError:
            try:
                _refuse_dicom_file(path)
            except _ContentError as e:
                raise ValueError(f"{path}: {e}") from None
            raise
        fmt, reader = SUPPORTED_EXTENSIONS[ext], _READERS[ext]
    try:
        data, axes, origin = reader(path)
        data = np.asarray(data)
        _check_dtype(data.dtype)
        return data, np.asarray(axes, np.float64), np.asarray(origin, np.float64).reshape(-1)
    except _Unreadable as e:
        raise ValueError(f"{path}: could not read it as {fmt}: {e}") from e
    except _ContentError as e:
        raise ValueError(f"{path}: {e}") from e
    except Exception as e:  # every library has its own errors for a corrupt file
        raise ValueError(f"{path}: could not read it as {fmt} (unreadable, truncated or not "
                         f"a {fmt} file): {type(e).__name__}: {_one_line(e)}") from e


def load_volume(path: str | os.PathLike) -> Volume:
    """Read a volume file (or DICOM series folder) as a ``Volume`` in DESIGN.md's
    convention; see the module docstring for formats, orientation handling and what is
    refused. Raises ``FileNotFoundError`` for a missing path and ``ValueError``, naming the
    file and the field, for anything else that is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    data, axes, origin = _read(path)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        hint = (" (a 4D array is accepted only when its extra axes have length 1; they are "
                "dropped)" if data.ndim > 3 else "")
        raise ValueError(f"{path}: expected a 3D volume, got a {data.ndim}D array of shape "
                         f"{data.shape}{hint}")
    if data.size == 0:
        raise ValueError(f"{path}: the volume is empty (shape {data.shape})")
    if axes.shape[0] < 3 or axes.shape[1] < 3 or origin.size < 3:
        raise ValueError(f"{path}: the file's geometry has fewer than 3 axes (voxel axes "
                         f"{axes.tolist()}, origin {origin.tolist()})")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    data, spacing, origin = _axis_aligned(data, axes[:3, :3], origin[:3], path)
    try:
        return Volume(data, spacing=spacing, origin=origin)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


# ---------------------------------------------------------------- writing


def save_volume(volume: Volume, path: str | os.PathLike) -> None:
    """Write ``volume`` to ``path`` atomically, in the format its extension names, with an
    identity direction. ``load_volume`` reads it back with the same data, spacing and
    origin (NIfTI stores spacing and origin as float32)."""
    if not isinstance(volume, Volume):
        raise TypeError(f"save_volume() needs a Volume, got {type(volume).__name__}")
    path = Path(path)
    ext = _extension(path)
    dtype = volume.data.dtype
    if ext not in (".tif", ".tiff", ".npy", ".npz") and dtype.newbyteorder("=") not in _ITK_DTYPES:
        raise ValueError(f"{path}: {SUPPORTED_EXTENSIONS[ext]} cannot store dtype {dtype}; "
                         "convert the data (e.g. to uint8 or float32) or save as .tif, .npy "
                         "or .npz, which keep any numeric dtype")
    if not dtype.isnative:
        volume = Volume(volume.data.astype(dtype.newbyteorder("=")), volume.spacing, volume.origin)
    try:
        if ext in (".mhd", ".nhdr"):
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_detached(volume, path)
            return
        with atomic_path(path) as tmp:
            _WRITERS[ext](volume, tmp)
    except OSError:
        raise
    except Exception as e:
        raise OSError(f"{path}: could not write it as {SUPPORTED_EXTENSIONS[ext]}: "
                      f"{type(e).__name__}: {e}") from e
