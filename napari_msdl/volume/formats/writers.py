"""The writers, one per format, each writing a file whole at a temporary path; ``.mhd`` and
``.nhdr`` (a header and a data file) are written in a private folder and moved into place,
data file first. ``napari_msdl.volume.io.save_volume`` chooses among them."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from napari_msdl._io import atomic_path
from napari_msdl.volume.volume import Volume

_ITK_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                     np.int32, np.uint64, np.int64, np.float32, np.float64)}


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
