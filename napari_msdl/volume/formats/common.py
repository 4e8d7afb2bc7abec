"""What every reader shares: the supported extensions, the errors a reader raises, one-line
error messages, and the checks made on a header before anything is decoded (dtype, size
against ``napari_msdl.volume.io.MAX_VOXELS`` / ``MAX_DECODED_BYTES``, header numbers,
rotations, data files inside the header's folder, files as long as their header promises).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

#: Extension -> format name. A folder holding a DICOM series is read as well.
SUPPORTED_EXTENSIONS: dict[str, str] = {
    ".nii.gz": "NIfTI", ".nii": "NIfTI", ".nrrd": "NRRD", ".nhdr": "NRRD", ".mha": "MetaImage",
    ".mhd": "MetaImage", ".tif": "TIFF", ".tiff": "TIFF", ".npy": "NumPy", ".npz": "NumPy",
}
_UNIT_TOL = 1e-4  # how far a stated direction (MetaImage, DICOM) may be from orthonormal


class _ContentError(ValueError):
    """A file that was read but holds something other than a scalar volume."""


class _Unreadable(_ContentError):
    """A file that is not of its format at all, or is truncated."""


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
    ``MAX_DECODED_BYTES`` bytes, before anything is decoded. The limits are read from
    ``napari_msdl.volume.io``, where they are public, at every call: changing them there
    takes effect."""
    from napari_msdl.volume import io  # not at the top: io imports this module

    shape = tuple(int(n) for n in shape)
    if any(n < 0 for n in shape):
        raise _ContentError(f"the header gives a negative size, shape {shape}")
    voxels = math.prod(shape)
    if voxels > io.MAX_VOXELS or voxels * itemsize > io.MAX_DECODED_BYTES:
        raise _ContentError(
            f"shape {shape} is {voxels} voxels ({voxels * itemsize / 2**30:.3g} GiB decoded), "
            f"over the limit of {io.MAX_VOXELS} voxels or {io.MAX_DECODED_BYTES / 2**30:.3g} "
            "GiB (napari_msdl.volume.io.MAX_VOXELS / MAX_DECODED_BYTES)")


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


# ---------------------------------------------------------------- truncated files


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
