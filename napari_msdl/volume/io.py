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
"""

from __future__ import annotations

import math
import os
import re
import shutil
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_msdl._io import atomic_path
from napari_msdl.volume.volume import Volume

__all__ = ["MAX_DECODED_BYTES", "MAX_POSITION_MM", "MAX_VOXELS", "SPACING_RANGE_MM",
           "SUPPORTED_EXTENSIONS", "load_volume", "save_volume"]

#: Extension -> format name. A folder holding a DICOM series is read as well.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".nii.gz": "NIfTI", ".nii": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
    ".mhd": "MetaImage", ".tif": "TIFF", ".tiff": "TIFF", ".npy": "NumPy", ".npz": "NumPy",
}
#: The most voxels a volume may have; checked from the header, before decoding.
MAX_VOXELS = 2**31
#: The most bytes a decoded volume may take; checked from the header, before decoding.
MAX_DECODED_BYTES = 16 * 2**30
#: Accepted spacing (mm). Outside it positions overflow or neighbouring voxels coincide.
SPACING_RANGE_MM = (1e-6, 1e6)
#: Largest accepted distance (mm) of any voxel from the world origin.
MAX_POSITION_MM = 1e9

_ITK_DTYPES = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                     np.int32, np.uint64, np.int64, np.float32, np.float64)}
_AXIS_TOL = 1e-5  # how far a direction entry may be from 0 or +-1 (float32 affines)
_UNIT_TOL = 1e-4  # how far a stated direction (MetaImage, DICOM) may be from orthonormal
_SLICE_TOL = 0.01  # how far (fraction of the slice spacing) a DICOM slice may be off its place
_HEADER_LIMIT = 1 << 16  # bytes of a text header (NRRD, MetaImage) read before giving up
_NIFTI_CODES = range(6)  # NIfTI xform codes: unknown, scanner, aligned, talairach, mni, other
_DICOM_MAGIC_AT = 128
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
#: Files a DICOM series folder may hold besides its slices (hidden files and DICOMDIR too).
_NOT_DICOM_SUFFIXES = {".txt", ".md", ".json", ".xml", ".csv", ".html", ".htm", ".pdf", ".ini",
                       ".log", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".zip", ".db"}


class _ContentError(ValueError):
    """A file that was read but holds something other than a scalar volume."""


class _Unreadable(_ContentError):
    """A file that is not of its format at all, or is truncated."""


def _extension(path: Path) -> str:
    """The supported extension ``path`` ends with; ``ValueError`` listing them otherwise."""
    name = path.name.lower()
    for ext in SUPPORTED_EXTENSIONS:
        if name.endswith(ext):
            return ext
    raise ValueError(f"{path}: unknown volume format {''.join(path.suffixes) or '(none)'!r}; "
                     f"supported: {', '.join(SUPPORTED_EXTENSIONS)}, or a folder holding a "
                     "DICOM series")


_ITK_NOISE = re.compile(r"Exception thrown in SimpleITK \w+: \S+:\d+:\s*|(itk::)?(ITK )?ERROR: "
                        r"|\w+\(0x[0-9a-fA-F]+\): ")


def _one_line(error: BaseException, limit: int = 400) -> str:
    """A library's error message on one line without ITK's source locations, shortened to
    ``limit`` characters."""
    text = _ITK_NOISE.sub("", " ".join(str(error).split())) or "(no message)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(values) -> str:
    """Numbers for a message: short, NaN and infinity spelled out."""
    return "[" + ", ".join(f"{float(v):.6g}" for v in np.asarray(values).reshape(-1)) + "]"


# ---------------------------------------------------------------- checks on headers


def _check_dtype(dtype, what: str = "voxel") -> np.dtype:
    """``dtype`` if a volume may hold it: bool, integers up to 64 bit, float16/32/64."""
    dtype = np.dtype(dtype)
    ok = dtype.fields is None and dtype.shape == () and (
        dtype.kind == "b" or (dtype.kind in "iu" and dtype.itemsize <= 8)
        or (dtype.kind == "f" and dtype.itemsize in (2, 4, 8)))
    if not ok:
        raise _ContentError(f"{what} dtype {dtype} is not supported; a volume holds bool, "
                            "integers up to 64 bit or float16/32/64")
    return dtype


def _check_size(shape, itemsize: int) -> None:
    """Refuse a volume whose header promises more than ``MAX_VOXELS`` voxels or
    ``MAX_DECODED_BYTES`` bytes, before anything is decoded."""
    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise _ContentError(f"the header gives a negative size, shape {shape}")
    voxels = math.prod(shape)
    if voxels > MAX_VOXELS or voxels * itemsize > MAX_DECODED_BYTES:
        raise _ContentError(
            f"shape {shape} is {voxels} voxels ({voxels * itemsize / 2**30:.3g} GiB decoded), "
            f"over the limit of {MAX_VOXELS} voxels or {MAX_DECODED_BYTES / 2**30:.3g} GiB "
            "(napari_msdl.volume.io.MAX_VOXELS / MAX_DECODED_BYTES)")


def _numbers(text: str | None, field: str, count: int | None = None, sep: str | None = None,
             positive: bool = False) -> np.ndarray:
    """The numbers of a header field, which must all be finite (and > 0 if ``positive``)."""
    if text is None or not text.strip():
        raise _ContentError(f"has no {field}")
    try:
        values = np.array([float(t) for t in text.strip().split(sep)], dtype=np.float64)
    except ValueError:
        raise _ContentError(f"{field} {text.strip()!r} is not a list of numbers") from None
    if count is not None and values.size != count:
        raise _ContentError(f"{field} has {values.size} values, expected {count}: "
                            f"{text.strip()!r}")
    if not np.all(np.isfinite(values)) or (positive and not np.all(values > 0)):
        need = "positive finite" if positive else "finite"
        raise _ContentError(f"{field} must be {need} numbers, got {text.strip()!r}")
    return values


def _check_rotation(matrix: np.ndarray, field: str) -> None:
    """Refuse a direction matrix whose columns are not orthonormal (it would scale voxels)."""
    if np.abs(matrix.T @ matrix - np.eye(matrix.shape[1])).max() > _UNIT_TOL:
        raise _ContentError(f"{field} {np.round(matrix, 6).tolist()} is not a rotation (its "
                            "columns must be orthogonal unit vectors)")


def _inside_folder(header: Path, name: str, field: str) -> None:
    """Refuse a data file named by ``header`` unless it lies inside the header's folder."""
    if not name or name.upper().startswith("LIST") or "%" in name:
        raise _ContentError(f"{field} {name!r} is not a single data file; lists and patterns "
                            "of data files are not read")
    if Path(name).is_absolute():
        raise _ContentError(f"{field} {name!r} is an absolute path; the data file must lie in "
                            "the header's folder")
    folder = header.parent.resolve()
    if folder not in (folder / name).resolve().parents:
        raise _ContentError(f"{field} {name!r} leads outside the header's folder {folder}; the "
                            "data file must lie in it")


# ---------------------------------------------------------------- NIfTI


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


def _check_file_holds(path: Path, offset: int, nbytes: int) -> None:
    """Refuse an uncompressed file shorter than its header promises (before allocating)."""
    size = path.stat().st_size
    if size < offset + nbytes:
        raise _Unreadable(f"is truncated: its header promises {nbytes} bytes of voxels from "
                          f"byte {offset}, the file has {size} bytes")


def _check_gzip_holds(path: Path, needed: int) -> None:
    """Refuse a gzip file that decompresses to fewer than ``needed`` bytes, before the
    reader allocates them. The gzip trailer (size modulo 2**32) settles the common case;
    otherwise the stream is decompressed once and counted, nothing kept."""
    import gzip

    with open(path, "rb") as f:
        f.seek(-4, os.SEEK_END)
        if int.from_bytes(f.read(4), "little") == needed % 2**32:
            return
    got = 0
    with gzip.open(path, "rb") as stream:
        while got < needed:
            chunk = stream.read(min(1 << 24, needed - got))
            if not chunk:
                break
            got += len(chunk)
    if got < needed:
        raise _Unreadable(f"is truncated: its header promises {needed} bytes (header and "
                          f"voxels) once decompressed, the file holds {got}")


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


# ---------------------------------------------------------------- DICOM


@dataclass(frozen=True)
class _Slice:
    """What a DICOM file's header says about its slice."""

    path: Path
    series: str
    orientation: np.ndarray  # ImageOrientationPatient: row direction, then column direction
    position: np.ndarray  # ImagePositionPatient of the first voxel (mm)
    pixel_spacing: np.ndarray  # PixelSpacing: between rows, between columns (mm)
    size: tuple[int, int]  # columns, rows
    itemsize: int  # bytes per decoded voxel


def _has_dicom_magic(path: Path) -> bool:
    """True when ``path`` has the 'DICM' marker after the 128-byte DICOM preamble."""
    with open(path, "rb") as f:
        f.seek(_DICOM_MAGIC_AT)
        return f.read(4) == b"DICM"


_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}
_VRS = _LONG_VRS | {bytes(vr, "ascii") for vr in (
    "AE AS AT CS DA DS DT FL FD IS LO LT PN SH SL SS ST TM UI UL US").split()}
_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_END, _SEQ_END = (0xFFFE, 0xE000), (0xFFFE, 0xE00D), (0xFFFE, 0xE0DD)
_PIXEL_DATA = (0x7FE0, 0x0010)
_EXPLICIT_BE, _DEFLATED = "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"


class _DicomLengths:
    """Walks the elements of a DICOM file (nested sequences and pixel data fragments too),
    refusing any whose stated length runs past its container. GDCM allocates a value's
    stated length before reading it: one flipped byte in a 40 KB slice cost 3.7 GB."""

    def __init__(self, buf, name: str):
        self.buf, self.name = buf, name

    def bad(self, what: str):
        raise _ContentError(f"{self.name} is not a readable DICOM file: {what}")

    def header(self, pos: int, end: int, explicit: bool, order: str):
        """(tag, VR or None, length, position of the value) of the element at ``pos``."""
        if end - pos < 8:
            self.bad(f"an element header is cut off at byte {pos}")
        tag = struct.unpack_from(order + "HH", self.buf, pos)
        if not explicit or tag[0] == 0xFFFE:
            return tag, None, struct.unpack_from(order + "I", self.buf, pos + 4)[0], pos + 8
        vr = bytes(self.buf[pos + 4:pos + 6])
        if not _looks_like_vr(vr):
            self.bad(f"element ({tag[0]:04X},{tag[1]:04X}) at byte {pos} has no valid VR")
        if vr not in _LONG_VRS:
            return tag, vr, struct.unpack_from(order + "H", self.buf, pos + 6)[0], pos + 8
        if end - pos < 12:
            self.bad(f"an element header is cut off at byte {pos}")
        return tag, vr, struct.unpack_from(order + "I", self.buf, pos + 8)[0], pos + 12

    def dataset(self, pos: int, end: int, explicit: bool, order: str, depth: int = 0) -> int:
        """Walk elements from ``pos`` to ``end`` or a delimiter; return where it stopped."""
        while pos < end:
            tag, vr, length, start = self.header(pos, end, explicit, order)
            if tag in (_ITEM_END, _SEQ_END):
                return pos
            if length == _UNDEFINED:  # a sequence (an undefined-length UN is implicit LE)
                plain = vr == b"UN"
                pos = self.items(start, end, explicit and not plain, "<" if plain else order,
                                 depth + 1, tag != _PIXEL_DATA)
                continue
            if length > end - start:
                self.bad(f"element ({tag[0]:04X},{tag[1]:04X}) claims {length} bytes, only "
                         f"{end - start} follow")
            if vr == b"SQ":
                self.items(start, start + length, explicit, order, depth + 1, True)
            pos = start + length
        return pos

    def items(self, pos: int, end: int, explicit: bool, order: str, depth: int,
              datasets: bool) -> int:
        """Walk sequence items (or pixel data fragments, not ``datasets``) up to the
        sequence delimiter or ``end``; return the position after them."""
        if depth > 32:
            self.bad("sequences are nested more than 32 deep")
        while pos < end:
            tag, _, length, start = self.header(pos, end, False, order)
            if tag == _SEQ_END:
                return start
            if tag != _ITEM:
                self.bad(f"a sequence item was expected at byte {pos}")
            if length == _UNDEFINED and datasets:
                pos = self.dataset(start, end, explicit, order, depth)
                pos = self.header(pos, end, False, order)[3]  # the item delimiter
            elif length > end - start:
                self.bad(f"a sequence item claims {length} bytes, only {end - start} follow")
            else:
                if datasets:
                    self.dataset(start, start + length, explicit, order, depth)
                pos = start + length
        return pos

    def check(self) -> None:
        """Walk the file meta group (explicit VR little endian), then the data set in the
        byte order its transfer syntax names (deflated data sets are left to GDCM)."""
        pos = _DICOM_MAGIC_AT + 4 if self.buf[_DICOM_MAGIC_AT:_DICOM_MAGIC_AT + 4] == b"DICM" \
            else 0
        syntax = ""
        end = len(self.buf)
        while end - pos >= 8 and struct.unpack_from("<H", self.buf, pos)[0] == 0x0002:
            tag, _, length, start = self.header(pos, end, True, "<")
            if length > end - start:
                self.bad(f"element ({tag[0]:04X},{tag[1]:04X}) claims {length} bytes")
            if tag == (0x0002, 0x0010):
                syntax = bytes(self.buf[start:start + length]).strip(b"\0 ").decode("latin-1")
            pos = start + length
        if syntax != _DEFLATED:  # explicit VR as found, like GDCM and pydicom, not as stated
            self.dataset(pos, end, _looks_like_vr(self.buf[pos + 4:pos + 6]),
                         ">" if syntax == _EXPLICIT_BE else "<")


def _looks_like_vr(two: bytes) -> bool:
    """True when ``two`` is a DICOM value representation: the element is explicit VR."""
    return bytes(two) in _VRS


def _check_dicom_lengths(path: Path) -> None:
    """Refuse a DICOM file whose element lengths run past its end (see ``_DicomLengths``)."""
    import mmap

    if path.stat().st_size == 0:
        raise _ContentError(f"{path.name} is not a readable DICOM file: it is empty")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        _DicomLengths(buf, path.name).check()


def _dicom_info(path: Path):
    """A GDCM reader whose header of ``path`` is read; ``_ContentError`` naming the file if
    it is not a readable DICOM file."""
    _check_dicom_lengths(path)
    try:
        return _itk_header(path, "GDCMImageIO")
    except RuntimeError as e:
        raise _ContentError(f"{path.name} is not a readable DICOM file ({_one_line(e, 160)}); "
                            "a series folder holds only its slices") from e


def _dicom_tag(reader, tag: str) -> str | None:
    return reader.GetMetaData(tag) if reader.HasMetaDataKey(tag) else None


def _dicom_slice(path: Path) -> _Slice:
    """The checked header of one DICOM slice file."""
    reader = _dicom_info(path)
    frames = (_dicom_tag(reader, "0028|0008") or "1").strip()
    if frames not in ("", "1") or reader.GetSize()[2:] not in ((), (1,)):
        raise _ContentError(f"{path.name} is a multi-frame DICOM file (NumberOfFrames "
                            f"{frames}); only series of single-frame slices are read")
    try:
        dtype = _check_itk(reader)
    except _ContentError as e:
        raise _ContentError(f"{path.name} {e}") from None
    orientation = _numbers(_dicom_tag(reader, "0020|0037"),
                           f"ImageOrientationPatient (0020,0037) in {path.name}", 6, "\\")
    _check_rotation(np.stack([orientation[:3], orientation[3:]], axis=1),
                    f"ImageOrientationPatient (0020,0037) in {path.name}")
    return _Slice(
        path, (_dicom_tag(reader, "0020|000e") or "(no SeriesInstanceUID)").strip(),
        orientation,
        _numbers(_dicom_tag(reader, "0020|0032"),
                 f"ImagePositionPatient (0020,0032) in {path.name}", 3, "\\"),
        _numbers(_dicom_tag(reader, "0028|0030"),
                 f"PixelSpacing (0028,0030) (pixel spacing) in {path.name}", 2, "\\",
                 positive=True),
        tuple(int(n) for n in reader.GetSize()[:2]), dtype.itemsize)


def _dicom_groups(slices: list[_Slice]) -> list[list[_Slice]]:
    """The slices grouped by series and by orientation (equal within ``_UNIT_TOL``)."""
    groups: list[list[_Slice]] = []
    for s in slices:
        for group in groups:
            first = group[0]
            if first.series == s.series and np.abs(first.orientation - s.orientation).max() \
                    <= _UNIT_TOL:
                group.append(s)
                break
        else:
            groups.append([s])
    return groups


def _one_group(folder: Path) -> list[_Slice]:
    """The slices of the single series and orientation in ``folder``; refuses none, several
    or a single slice."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.name.upper() != "DICOMDIR"
                   and p.suffix.lower() not in _NOT_DICOM_SUFFIXES)
    slices = [_dicom_slice(p) for p in files]
    if not slices:
        raise _ContentError("is a folder but holds no DICOM series (no DICOM files); supported "
                            f"files: {', '.join(SUPPORTED_EXTENSIONS)}")
    groups = _dicom_groups(slices)
    if len(groups) > 1:
        listed = "; ".join(f"series {g[0].series} orientation {_fmt(g[0].orientation)}: "
                           f"{len(g)} files" for g in groups)
        raise _ContentError(f"mixes {len(groups)} DICOM series or slice orientations ({listed}); "
                            "put each series and orientation in a folder of its own")
    if len(slices) == 1:
        raise _ContentError(f"holds a single DICOM slice ({slices[0].path.name}): a 2D image "
                            "with no slice spacing; a volume needs 2 or more slices")
    for field in ("size", "pixel_spacing"):
        values = {tuple(np.atleast_1d(getattr(s, field)).tolist()) for s in slices}
        if len(values) > 1:
            raise _ContentError(f"its slices differ in {field.replace('_', ' ')}: "
                                f"{sorted(values)}")
    return slices


def _slice_order(slices: list[_Slice]):
    """(slices sorted along the normal, slice spacing): positions come from
    ImagePositionPatient projected on the normal; they must be evenly spaced and must not
    drift within the slice plane."""
    normal = np.cross(slices[0].orientation[:3], slices[0].orientation[3:])
    positions = np.array([s.position for s in slices])
    along = positions @ normal
    order = np.argsort(along, kind="stable")
    along, positions = along[order], positions[order]
    step = (along[-1] - along[0]) / (len(along) - 1)
    gaps = np.diff(along)
    tol = _SLICE_TOL * step
    if step <= 0 or np.any(gaps <= tol):
        i = int(np.flatnonzero(gaps <= tol)[0])
        pair = f"{slices[order[i]].path.name} and {slices[order[i + 1]].path.name}"
        raise _ContentError(f"slices lie at the same position along the normal (e.g. {pair} at "
                            f"{along[i]:.6g} mm): repeated slices or several time frames")
    line = along[0] + step * np.arange(len(along))
    if np.any(np.abs(gaps - step) > tol) or np.any(np.abs(along - line) > tol):
        bad = np.flatnonzero(np.abs(gaps - step) > tol)
        listed = ", ".join(f"{i}-{i + 1}: {gaps[i]:.6g} mm" for i in bad[:8])
        more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
        raise _ContentError(
            f"slices are not evenly spaced along the normal: gaps {listed}{more} (mean "
            f"{step:.6g} mm; positions {_fmt(along[:12])}); a slice is missing or the folder "
            "mixes acquisitions")
    drift = np.linalg.norm(positions - positions[0] - np.outer(along - along[0], normal), axis=1)
    if drift.max() > tol:
        raise _ContentError(f"slice positions drift by up to {drift.max():.3g} mm within the slice "
                            "plane (a sheared stack, e.g. CT gantry tilt); resample it first")
    return [slices[i] for i in order], float(step)


def _decode_slices(slices: list[_Slice]) -> np.ndarray:
    """The pixels of the ordered slices as one (columns, rows, slices) array."""
    import SimpleITK as sitk

    cols, rows = slices[0].size
    out = None
    for k, s in enumerate(slices):
        pixels = sitk.GetArrayFromImage(sitk.ReadImage(str(s.path), imageIO="GDCMImageIO"))
        if pixels.size != rows * cols:
            raise _ContentError(f"{s.path.name} decodes to shape {pixels.shape}, its header "
                                f"says {rows} x {cols}")
        if out is None:
            out = np.empty((cols, rows, len(slices)), pixels.dtype)
        elif pixels.dtype != out.dtype:  # a slice rescaled differently: a dtype for both
            out = out.astype(np.result_type(out.dtype, pixels.dtype))
        out[:, :, k] = pixels.reshape(rows, cols).T
    return out


def _read_dicom(path: Path):
    slices, step = _slice_order(_one_group(path))
    first = slices[0]
    cols, rows = first.size
    _check_size((cols, rows, len(slices)), max(s.itemsize for s in slices))
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    axes = np.column_stack([row_dir * first.pixel_spacing[1], col_dir * first.pixel_spacing[0],
                            np.cross(row_dir, col_dir) * step])
    return _decode_slices(slices), axes, first.position.copy()


def _refuse_dicom_file(path: Path) -> None:
    """Raise a clear ``_ContentError`` for a single DICOM file, which is one slice (or a
    multi-frame file); do nothing if ``path`` does not look like DICOM."""
    if not (path.name.lower().endswith(_DICOM_SUFFIXES) or _has_dicom_magic(path)):
        return
    try:
        frames = math.prod(_dicom_info(path).GetSize()[2:])
    except _ContentError:
        raise _ContentError("looks like a DICOM file but cannot be read; DICOM is read as a "
                            "folder of slices") from None
    if frames > 1:
        raise _ContentError(f"is a multi-frame DICOM file ({frames} frames); only DICOM series "
                            "stored one slice per file are read: pass their folder")
    raise _ContentError("is a single DICOM file, one 2D slice with no slice spacing; pass the "
                        "folder that holds all the slices of its series")


# ---------------------------------------------------------------- TIFF and NumPy


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
