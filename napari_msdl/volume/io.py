"""Reading and writing volumes with their spacing and origin.

Formats, chosen by extension (a folder is a DICOM series):

- NIfTI ``.nii`` / ``.nii.gz`` (nibabel): axes 0, 1, 2 are the file's i, j, k as nibabel
  returns them; spacing is the length of the affine's columns, origin its translation.
- NRRD ``.nrrd`` / ``.nhdr``, MetaImage ``.mha`` / ``.mhd`` and DICOM series folders
  (SimpleITK): ITK's array is (k, j, i) and is transposed so that axis 0 is ITK's i;
  ``GetSpacing`` and ``GetOrigin`` are already in i, j, k order. DICOM series are read only.
- TIFF ``.tif`` / ``.tiff`` (tifffile): spacing and origin are kept as JSON in the
  ImageDescription; a TIFF without it loads with spacing 1 and origin 0.
- NumPy ``.npy`` (spacing 1, origin 0) and ``.npz`` (keys ``data``, ``spacing``, ``origin``).

Spacing and origin are the file's own numbers, in its own world frame (RAS for NIfTI, LPS
for the ITK formats); nothing is converted between frames.

Direction matrix (the affine's columns divided by the spacing): the identity is taken as
it is. A signed axis permutation (the common NIfTI/DICOM flips such as diag(-1, -1, 1), or
swapped axes) is undone exactly: the array is flipped and transposed and spacing and origin
adjusted so that every voxel keeps its physical position while the direction becomes the
identity. An oblique direction cannot be represented without resampling, so it is refused
with a ``ValueError`` that names the file and the matrix.

Arrays must be 3D; trailing axes of length 1 (a 4D NIfTI of shape (x, y, z, 1)) are
dropped, any other 2D or 4D array is refused. The dtype is kept (uint8 stays uint8). Every
error names the file and what was wrong. Writes are atomic: a file appears whole or not at
all (``.mhd`` and ``.nhdr`` are two files: the data file is replaced first, then the
header).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from napari_msdl._io import atomic_path
from napari_msdl.volume.volume import Volume

__all__ = ["SUPPORTED_EXTENSIONS", "load_volume", "save_volume"]

#: Extension -> format name. A folder holding a DICOM series is read as well.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".nii.gz": "NIfTI", ".nii": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
    ".mhd": "MetaImage", ".tif": "TIFF", ".tiff": "TIFF", ".npy": "NumPy", ".npz": "NumPy",
}
_ITK_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                     np.int32, np.uint64, np.int64, np.float32, np.float64)}
_AXIS_TOL = 1e-5  # how far a direction entry may be from 0 or +-1 (float32 affines)


class _ContentError(ValueError):
    """A file that was read but holds something other than a scalar volume."""


def _extension(path: Path) -> str:
    """The supported extension ``path`` ends with; ``ValueError`` listing them otherwise."""
    name = path.name.lower()
    for ext in SUPPORTED_EXTENSIONS:
        if name.endswith(ext):
            return ext
    raise ValueError(f"{path}: unknown volume format {''.join(path.suffixes) or '(none)'!r}; "
                     f"supported: {', '.join(SUPPORTED_EXTENSIONS)}, or a folder holding a "
                     "DICOM series")


# ---------------------------------------------------------------- reading


def _read_nifti(path: Path):
    import nibabel as nib

    img = nib.load(str(path), mmap=False)
    data = np.asanyarray(img.dataobj)
    affine = np.asarray(img.affine, dtype=np.float64)
    return data, affine[:3, :3], affine[:3, 3]


def _itk_arrays(img):
    """(data, axes, origin) of a SimpleITK image in i, j, k order."""
    import SimpleITK as sitk

    if img.GetNumberOfComponentsPerPixel() != 1:
        raise _ContentError(f"has {img.GetNumberOfComponentsPerPixel()} components per voxel "
                            "(a colour or vector image); a scalar volume is needed")
    dim = img.GetDimension()
    data = sitk.GetArrayFromImage(img).transpose(tuple(range(dim))[::-1])
    direction = np.array(img.GetDirection(), dtype=np.float64).reshape(dim, dim)
    axes = direction * np.array(img.GetSpacing(), dtype=np.float64)
    return np.ascontiguousarray(data), axes, np.array(img.GetOrigin(), dtype=np.float64)


def _read_itk(path: Path):
    import SimpleITK as sitk

    return _itk_arrays(sitk.ReadImage(str(path)))


def _read_dicom(path: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(path))
    if not series:
        raise _ContentError("is a folder but holds no DICOM series; supported files: "
                            f"{', '.join(SUPPORTED_EXTENSIONS)}")
    if len(series) > 1:
        raise _ContentError(f"holds {len(series)} DICOM series ({', '.join(series)}); put each "
                            "series in a folder of its own")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
    return _itk_arrays(reader.Execute())


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(str(path)) as tif:
        if "S" in tif.series[0].axes:
            raise _ContentError(f"is a colour TIFF (axes {tif.series[0].axes}); a scalar "
                                "volume is needed")
        data = tif.asarray()
        meta = (tif.shaped_metadata or ({},))[0]
    spacing = meta.get("spacing", np.ones(3))
    origin = np.asarray(meta.get("origin", np.zeros(3)), dtype=np.float64).reshape(-1)
    return data, _diagonal(spacing), origin


def _read_npy(path: Path):
    return np.load(path, allow_pickle=False), np.eye(3), np.zeros(3)


def _read_npz(path: Path):
    with np.load(path, allow_pickle=False) as npz:
        if "data" not in npz.files:
            raise _ContentError(f"has no 'data' array (it holds {npz.files}); expected the keys "
                            "data, spacing, origin")
        data = npz["data"]
        spacing = npz["spacing"] if "spacing" in npz.files else np.ones(3)
        origin = npz["origin"] if "origin" in npz.files else np.zeros(3)
    return data, _diagonal(spacing), np.asarray(origin, dtype=np.float64).reshape(-1)


def _diagonal(spacing) -> np.ndarray:
    """The voxel axes of an explicitly stored spacing, which must be 3 positive numbers
    (a negative one is an error here, not a flip)."""
    spacing = np.asarray(spacing, dtype=np.float64).reshape(-1)
    if spacing.shape != (3,) or not np.all(spacing > 0) or not np.all(np.isfinite(spacing)):
        raise _ContentError(f"spacing must be 3 positive finite values (mm), got "
                            f"{spacing.tolist()}")
    return np.diag(spacing)


_READERS = {".nii.gz": _read_nifti, ".nii": _read_nifti, ".nrrd": _read_itk, ".nhdr": _read_itk,
            ".mha": _read_itk, ".mhd": _read_itk, ".tif": _read_tiff, ".tiff": _read_tiff,
            ".npy": _read_npy, ".npz": _read_npz}


def _axis_aligned(data: np.ndarray, axes: np.ndarray, origin: np.ndarray, path: Path):
    """Undo a signed axis permutation in ``axes`` (3x3, column d = step of array axis d in
    mm): return (data, spacing, origin) with an identity direction, every voxel in place."""
    spacing = np.linalg.norm(axes, axis=0)
    if not np.all(spacing > 0) or not np.all(np.isfinite(axes)):
        raise ValueError(f"{path}: spacing must be positive and finite, got "
                         f"{spacing.tolist()} (voxel axes {axes.tolist()})")
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


def load_volume(path: str | os.PathLike) -> Volume:
    """Read a volume file (or DICOM series folder) as a ``Volume`` in DESIGN.md's
    convention; see the module docstring for formats and orientation handling."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    ext = None if path.is_dir() else _extension(path)
    fmt = "DICOM series" if ext is None else SUPPORTED_EXTENSIONS[ext]
    try:
        data, axes, origin = (_read_dicom if ext is None else _READERS[ext])(path)
        data = np.asarray(data)
    except _ContentError as e:
        raise ValueError(f"{path}: {e}") from e
    except Exception as e:  # every library has its own errors for a corrupt file
        raise ValueError(f"{path}: could not read it as {fmt} (unreadable, truncated or not "
                         f"a {fmt} file): {type(e).__name__}: {e}") from e
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        hint = (" (a 4D array is accepted only when its extra axes have length 1; they are "
                "dropped)" if data.ndim > 3 else "")
        raise ValueError(f"{path}: expected a 3D volume, got a {data.ndim}D array of shape "
                         f"{data.shape}{hint}")
    if data.size == 0:
        raise ValueError(f"{path}: the volume is empty (shape {data.shape})")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    data, spacing, origin = _axis_aligned(data, axes[:3, :3], origin[:3], path)
    try:
        return Volume(data, spacing=spacing, origin=origin)
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e


# ---------------------------------------------------------------- writing


def _write_nifti(volume: Volume, tmp: Path) -> None:
    import nibabel as nib

    affine = np.diag([*volume.spacing, 1.0])
    affine[:3, 3] = volume.origin
    img = nib.Nifti1Image(volume.data, affine, dtype=volume.data.dtype)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, str(tmp))


def _itk_image(volume: Volume):
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(volume.data.transpose(2, 1, 0)))
    img.SetSpacing([float(s) for s in volume.spacing])
    img.SetOrigin([float(o) for o in volume.origin])
    return img


def _write_itk(volume: Volume, tmp: Path) -> None:
    import SimpleITK as sitk

    sitk.WriteImage(_itk_image(volume), str(tmp))


def _write_detached(volume: Volume, path: Path) -> None:
    """A header with a separate data file (.mhd, .nhdr): both are written in a private
    folder beside ``path``, then moved into place through ``atomic_path``, data first."""
    import SimpleITK as sitk

    with tempfile.TemporaryDirectory(prefix=f".{path.name}.", dir=path.parent) as tmp_dir:
        sitk.WriteImage(_itk_image(volume), str(Path(tmp_dir) / path.name))
        names = sorted(p.name for p in Path(tmp_dir).iterdir() if p.name != path.name)
        for name in [*names, path.name]:
            with atomic_path(path.parent / name) as tmp:
                shutil.move(Path(tmp_dir) / name, tmp)


def _write_tiff(volume: Volume, tmp: Path) -> None:
    import tifffile

    meta = {"spacing": volume.spacing.tolist(), "origin": volume.origin.tolist(),
            "axes_note": "axis 0 is pages; p = origin + index * spacing (mm)"}
    tifffile.imwrite(str(tmp), volume.data, metadata=meta, photometric="minisblack")


def _write_npy(volume: Volume, tmp: Path) -> None:
    np.save(tmp, volume.data)


def _write_npz(volume: Volume, tmp: Path) -> None:
    np.savez(tmp, data=volume.data, spacing=np.asarray(volume.spacing),
             origin=np.asarray(volume.origin))


_WRITERS = {".nii.gz": _write_nifti, ".nii": _write_nifti, ".nrrd": _write_itk,
            ".mha": _write_itk, ".tif": _write_tiff, ".tiff": _write_tiff,
            ".npy": _write_npy, ".npz": _write_npz}


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
