"""The DICOM series reader (a folder, read only): each slice's header is read with GDCM and
checked, the slices are grouped by series and orientation, ordered along the slice normal
and checked for even spacing, then decoded one by one and stacked; a single DICOM file is
refused with a message that asks for its folder."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_msdl.volume.formats.common import (
    _UNIT_TOL,
    SUPPORTED_EXTENSIONS,
    _check_rotation,
    _check_size,
    _ContentError,
    _fmt,
    _numbers,
    _one_line,
)
from napari_msdl.volume.formats.dicom_lengths import _DICOM_MAGIC_AT, _check_dicom_lengths
from napari_msdl.volume.formats.itk import _check_itk, _itk_header

_SLICE_TOL = 0.01  # how far (fraction of the slice spacing) a DICOM slice may be off its place
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima")
#: Files a DICOM series folder may hold besides its slices (hidden files and DICOMDIR too).
_NOT_DICOM_SUFFIXES = {".txt", ".md", ".json", ".xml", ".csv", ".html", ".htm", ".pdf", ".ini",
                       ".log", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".zip", ".db"}


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
