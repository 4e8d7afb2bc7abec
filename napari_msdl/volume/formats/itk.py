"""The NRRD (``.nrrd``, ``.nhdr``) and MetaImage (``.mha``, ``.mhd``) readers: their text
headers are read and checked directly (SimpleITK would hide NaN or negative spacings and
offsets), then SimpleITK reads the image; also the SimpleITK helpers the DICOM reader
shares (headers read with a forced ImageIO, pixel types, single-component check)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from napari_msdl.volume.formats.common import (
    _check_dtype,
    _check_rotation,
    _check_size,
    _ContentError,
    _inside_folder,
    _numbers,
    _Unreadable,
)

_HEADER_LIMIT = 1 << 16  # bytes of a text header (NRRD, MetaImage) read before giving up


# ---------------------------------------------------------------- NRRD and MetaImage headers


def _header_lines(path: Path, what: str) -> list[str]:
    """The text lines at the start of ``path`` (at most ``_HEADER_LIMIT`` bytes)."""
    with open(path, "rb") as f:
        head = f.read(_HEADER_LIMIT)
    if not head:
        raise _Unreadable(f"is empty; a {what} header was expected")
    return [line.rstrip("\r") for line in head.decode("latin-1").split("\n")]


def _nrrd_fields(path: Path) -> list[tuple[str, str]]:
    """(field, value) of a NRRD header, field names in lower case, up to the blank line."""
    lines = _header_lines(path, "NRRD")
    if not lines[0].startswith("NRRD000"):
        raise _Unreadable(f"does not start with the NRRD magic 'NRRD000x' "
                          f"(starts with {lines[0][:16]!r})")
    fields = []
    for line in lines[1:]:
        if not line:
            return fields
        if line.startswith("#") or ":=" in line.split(": ", 1)[0]:
            continue  # a comment or a key:=value pair
        key, sep, value = line.partition(": ")
        if sep:
            fields.append((key.strip().lower(), value.strip()))
    if os.path.getsize(path) > _HEADER_LIMIT:
        raise _Unreadable(f"its NRRD header has no end (a blank line) in the first "
                          f"{_HEADER_LIMIT} bytes")
    return fields


def _check_nrrd(path: Path) -> None:
    """Refuse a NRRD header with bad spacings, space directions or space origin (SimpleITK
    sets a NaN spacing to 1 and turns a negative one into a flip), or an outside data file."""
    fields = _nrrd_fields(path)
    keys = {k for k, _ in fields}
    if "spacings" in keys and "space directions" in keys:
        raise _ContentError("has both 'spacings' and 'space directions' (the spacing is stated "
                            "twice)")
    for key, value in fields:
        if key == "spacings":
            _numbers(value, "NRRD 'spacings' (voxel spacing)", positive=True)
        elif key == "space directions":
            _nrrd_directions(value)
        elif key == "space origin":
            _numbers(value.strip().strip("()"), "NRRD 'space origin'", sep=",")
        elif key in ("data file", "datafile"):
            _inside_folder(path, value, "NRRD 'data file'")


def _nrrd_directions(value: str) -> None:
    """Each vector of NRRD 'space directions' must be finite and of non-zero length."""
    field = "NRRD 'space directions'"
    tokens = re.findall(r"\([^()]*\)|none", value)
    if re.sub(r"\s", "", "".join(tokens)) != re.sub(r"\s", "", value):
        raise _ContentError(f"{field} {value!r} is not a list of (x,y,z) vectors or 'none'")
    for token in tokens:
        if token != "none":
            vector = _numbers(token[1:-1], field, sep=",")
            if not np.any(vector):
                raise _ContentError(f"{field} has a zero vector {token}: voxel spacing 0")


_META_SPACING = ("elementspacing", "elementsize")
_META_ORIGIN = ("offset", "origin", "position")
_META_MATRIX = ("transformmatrix", "rotation", "orientation")


def _meta_fields(path: Path) -> dict[str, list[str]]:
    """Key (lower case) -> values of a MetaImage header, up to its ElementDataFile line."""
    fields: dict[str, list[str]] = {}
    for line in _header_lines(path, "MetaImage"):
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip().lower()
        fields.setdefault(key, []).append(value.strip())
        if key == "elementdatafile":
            return fields
    raise _Unreadable(f"has no ElementDataFile line in its first {_HEADER_LIMIT} bytes: not a "
                      "MetaImage header")


def _check_meta(path: Path) -> None:
    """Refuse a MetaImage header with bad ElementSpacing, Offset or TransformMatrix
    (SimpleITK reads NaN offsets as 0 and negative spacings as flips) or an ElementDataFile
    outside the header's folder."""
    fields = _meta_fields(path)
    ndims = int(_numbers(fields.get("ndims", [None])[0], "MetaImage NDims", count=1)[0])
    for key, values in fields.items():
        for value in values:
            if key in _META_SPACING:
                _numbers(value, f"MetaImage {key} (voxel spacing)", ndims, positive=True)
            elif key in _META_ORIGIN:
                _numbers(value, f"MetaImage {key} (origin)", ndims)
            elif key in _META_MATRIX:
                matrix = _numbers(value, f"MetaImage {key}", ndims * ndims)
                _check_rotation(matrix.reshape(ndims, ndims), f"MetaImage {key}")
    data_file = fields["elementdatafile"][0]
    if data_file.upper() != "LOCAL":
        _inside_folder(path, data_file, "MetaImage ElementDataFile")


# ---------------------------------------------------------------- SimpleITK readers


def _sitk_dtypes() -> dict[int, np.dtype]:
    """SimpleITK scalar pixel IDs -> numpy dtypes (complex ones too, to name them)."""
    import SimpleITK as sitk

    names = {"UInt8": np.uint8, "Int8": np.int8, "UInt16": np.uint16, "Int16": np.int16,
             "UInt32": np.uint32, "Int32": np.int32, "UInt64": np.uint64, "Int64": np.int64,
             "Float32": np.float32, "Float64": np.float64, "ComplexFloat32": np.complex64,
             "ComplexFloat64": np.complex128}
    return {getattr(sitk, f"sitk{n}"): np.dtype(t) for n, t in names.items()
            if hasattr(sitk, f"sitk{n}")}


def _itk_header(path: Path, image_io: str):
    """A SimpleITK reader for ``path`` with ``image_io`` forced (no guessing from the
    content), its header read and nothing decoded."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetImageIO(image_io)
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return reader


def _check_itk(reader) -> np.dtype:
    """The dtype of a read SimpleITK header, refusing more than one component, an
    unsupported pixel type or a size over the limits."""
    import SimpleITK as sitk

    if reader.GetNumberOfComponents() != 1:
        raise _ContentError(f"has {reader.GetNumberOfComponents()} components per voxel (a "
                            "colour or vector image); a scalar volume is needed")
    dtype = _sitk_dtypes().get(reader.GetPixelID())
    if dtype is None:
        raise _ContentError(f"pixel type {sitk.GetPixelIDValueAsString(reader.GetPixelID())!r} "
                            "is not supported")
    _check_dtype(dtype)
    _check_size(reader.GetSize(), dtype.itemsize)
    return dtype


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


def _read_nrrd(path: Path):
    _check_nrrd(path)
    reader = _itk_header(path, "NrrdImageIO")
    _check_itk(reader)
    return _itk_arrays(reader.Execute())


def _read_meta(path: Path):
    _check_meta(path)
    reader = _itk_header(path, "MetaImageIO")
    _check_itk(reader)
    return _itk_arrays(reader.Execute())
