"""The NIfTI-1 and -2 reader (``.nii``, ``.nii.gz``, nibabel): the header is read and checked
as stored (pixdim, xform codes, qform against sform) before nibabel decodes anything."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from napari_msdl.volume.formats.common import (
    _check_dtype,
    _check_file_holds,
    _check_gzip_holds,
    _check_size,
    _ContentError,
    _fmt,
    _Unreadable,
)

_NIFTI_CODES = range(6)  # NIfTI xform codes: unknown, scanner, aligned, talairach, mni, other


def _nifti_header(path: Path):
    """The NIfTI-1 or -2 header exactly as stored (nibabel's load silently sets a zero
    pixdim to 1 and clears unknown xform codes) and the image class that reads it."""
    import gzip

    import nibabel as nib

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        block = f.read(540)
    sizes = {int.from_bytes(block[:4], "little"), int.from_bytes(block[:4], "big")}
    for size, header_class, image_class, magic in (
            (348, nib.Nifti1Header, nib.Nifti1Image, b"n+1"),
            (540, nib.Nifti2Header, nib.Nifti2Image, b"n+2")):
        if size in sizes and len(block) >= size:
            header = header_class(block[:size], check=False)
            if bytes(header["magic"].item())[:3] != magic:
                raise _Unreadable(f"magic {header['magic'].item()!r} is not {magic!r}: not a "
                                  "single-file NIfTI")
            return header, image_class
    raise _Unreadable("is not a NIfTI file (sizeof_hdr is neither 348 nor 540)")


def _check_nifti(header) -> None:
    """Refuse a NIfTI header with an unsupported dtype, too many voxels, a zero, negative
    or non-finite pixdim, unknown xform codes, or non-finite or disagreeing transforms."""
    try:
        dtype = header.get_data_dtype()
    except Exception:
        raise _ContentError(f"datatype code {int(header['datatype'])} is not a NIfTI "
                            "data type") from None
    try:
        _check_dtype(dtype)
    except _ContentError as e:
        label = header.get_value_label("datatype")
        raise _ContentError(f"{e} (NIfTI datatype {label})") from None
    _check_size(header.get_data_shape(), dtype.itemsize)
    pixdim = np.asarray(header["pixdim"][1:4], dtype=np.float64)
    if not np.all(np.isfinite(pixdim)) or not np.all(pixdim > 0):
        raise _ContentError(f"pixdim[1:4] (the voxel spacing) must be positive and finite, "
                            f"got {_fmt(pixdim)}")
    codes = {name: int(header[name]) for name in ("qform_code", "sform_code")}
    for name, code in codes.items():
        if code not in _NIFTI_CODES:
            raise _ContentError(f"{name} {code} is not a NIfTI xform code (0 to 5)")
    for name in ("scl_slope", "scl_inter"):
        if np.isinf(header[name]):
            raise _ContentError(f"{name} is {float(header[name])}")
    qform = _nifti_qform(header) if codes["qform_code"] else None
    sform = _nifti_sform(header) if codes["sform_code"] else None
    if qform is not None and sform is not None:
        gap = np.abs(qform - sform).max()
        if gap > 1e-3 * pixdim.min() + 1e-5 * np.abs(sform).max():
            raise _ContentError(
                f"sform {np.round(sform, 4).tolist()} and qform {np.round(qform, 4).tolist()} "
                f"disagree by {gap:.3g} mm; programs differ in which one they use. Set "
                "qform_code or sform_code to 0, or make them equal")


def _nifti_qform(header) -> np.ndarray:
    """The 3x4 qform of a raw header, whose quaternion and offsets must be finite."""
    names = ("quatern_b", "quatern_c", "quatern_d", "qoffset_x", "qoffset_y", "qoffset_z")
    values = np.array([header[n] for n in names], dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise _ContentError(f"quatern_b/c/d and qoffset_x/y/z (qform) must be finite, got "
                            f"{_fmt(values)}")
    if np.sum(values[:3] ** 2) > 1 + 1e-6:
        raise _ContentError(f"quatern_b/c/d {_fmt(values[:3])} (qform) is not part of a unit "
                            "quaternion")
    qfac = float(header["pixdim"][0])
    if qfac not in (-1.0, 0.0, 1.0):
        raise _ContentError(f"pixdim[0] (qfac) must be 1 or -1, got {qfac}")
    fixed = header.copy()
    fixed["pixdim"][0] = qfac or 1.0
    return fixed.get_qform()[:3]


def _nifti_sform(header) -> np.ndarray:
    """The 3x4 sform of a raw header, which must be finite."""
    sform = np.array([header[n] for n in ("srow_x", "srow_y", "srow_z")], dtype=np.float64)
    if not np.all(np.isfinite(sform)):
        raise _ContentError(f"srow_x/y/z (sform) must be finite, got {sform.tolist()}")
    return sform


def _read_nifti(path: Path):
    header, image_class = _nifti_header(path)
    _check_nifti(header)
    img = image_class.from_filename(str(path), mmap=False)
    offset = int(img.dataobj.offset)
    nbytes = math.prod(img.shape) * img.get_data_dtype().itemsize
    if path.name.lower().endswith(".gz"):
        _check_gzip_holds(path, offset + nbytes)
    else:
        _check_file_holds(path, offset, nbytes)
    data = np.asanyarray(img.dataobj)
    affine = np.asarray(img.affine, dtype=np.float64)
    return data, affine[:3, :3], affine[:3, 3]
