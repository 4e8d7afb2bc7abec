"""DICOM series folders built from pydicom's CT_small.dcm: slices are grouped by series and
orientation, placed by ImagePositionPatient along the normal, and refused when uneven,
mixed, repeated, sheared, single or colour, before any pixel is decoded."""

from __future__ import annotations

import copy
import shutil
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from napari_msdl.volume import io as vio
from napari_msdl.volume import load_volume, sample
from napari_msdl.volume.formats import dicom_lengths, itk

pydicom = pytest.importorskip("pydicom")
from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

CT = get_testdata_file("CT_small.dcm")
X0, Y0 = -158.135803, -179.035797
Z_EVEN = [-75.7, -73.2, -70.7, -68.2]


class Decoded(BaseException):
    """Raised where pixels would be decoded; no reader's ``except Exception`` hides it."""


def _no_decoding(*args, **kwargs):
    raise Decoded("pixels were decoded although the headers should have been refused")


def write_series(folder, zs, names=None, source=CT, **per_slice):
    """One file per z in ``folder`` copied from ``source``: ImagePositionPatient (X0, Y0, z),
    InstanceNumber and SOPInstanceUID edited; ``per_slice`` maps a keyword to one value per
    slice (None: delete the element). Returns the files."""
    folder.mkdir(exist_ok=True)
    base = pydicom.dcmread(source)
    files = []
    for k, z in enumerate(zs):
        ds = copy.deepcopy(base)
        ds.ImagePositionPatient = [X0, Y0, z]
        ds.InstanceNumber = k + 1
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # pydicom on deliberately bad values
            for keyword, values in per_slice.items():
                if values[k] is None:
                    delattr(ds, keyword)
                else:
                    setattr(ds, keyword, values[k])
        path = folder / (names[k] if names else f"slice{k:02d}.dcm")
        ds.save_as(path)
        files.append(path)
    return files


def ct_slice_values(path) -> np.ndarray:
    """The slice's stored values with the rescale applied, as (columns, rows)."""
    ds = pydicom.dcmread(path)
    return (ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)).T


def test_even_series_loads_with_spacing_and_origin_from_the_positions(tmp_path):
    """Files named against the position order, SliceThickness (5 mm) unlike the real step:
    the slices are stacked by position and the step comes from the positions."""
    names = ["d.dcm", "b.dcm", "c.dcm", "a.dcm"]
    files = write_series(tmp_path / "s", [-70.7, -75.7, -68.2, -73.2], names=names,
                         InstanceNumber=[4, 3, 2, 1])
    vol = load_volume(tmp_path / "s")
    assert vol.shape == (128, 128, 4)
    np.testing.assert_allclose(vol.spacing, [0.661468, 0.661468, 2.5], rtol=1e-9)
    np.testing.assert_allclose(vol.origin, [X0, Y0, -75.7], rtol=1e-9)
    for k, index in enumerate([1, 3, 0, 2]):  # the files in position order
        np.testing.assert_array_equal(vol.data[:, :, k], ct_slice_values(files[index]))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([str(files[i]) for i in (1, 3, 0, 2)])
    itk = reader.Execute()
    np.testing.assert_array_equal(vol.data, sitk.GetArrayFromImage(itk).transpose(2, 1, 0))
    assert vol.data.dtype == sitk.GetArrayFromImage(itk).dtype


def test_two_slices_are_a_volume(tmp_path):
    write_series(tmp_path / "s", [10.0, 11.25])
    vol = load_volume(tmp_path / "s")
    assert vol.shape == (128, 128, 2) and vol.spacing[2] == pytest.approx(1.25)


def test_flipped_orientation_keeps_every_voxel_in_place(tmp_path):
    """Rows running to -x and columns to -y (normal +z): undone by flips, voxels in place."""
    files = write_series(tmp_path / "s", Z_EVEN, ImageOrientationPatient=[[-1, 0, 0, 0, -1, 0]] * 4)
    vol = load_volume(tmp_path / "s")
    ps = 0.661468
    c, r = np.meshgrid(np.arange(0, 128, 9), np.arange(0, 128, 11), indexing="ij")
    for k, z in enumerate(Z_EVEN):
        points = np.stack([X0 - c * ps, Y0 - r * ps, np.full(c.shape, z)], -1).reshape(-1, 3)
        expected = ct_slice_values(files[k])[c, r].reshape(-1)
        np.testing.assert_allclose(sample(vol, points), expected, atol=1e-6)


def test_uneven_slices_are_refused_naming_the_gaps(tmp_path, refused):
    write_series(tmp_path / "s", [-99.5, 103.0, 104.3, 105.5])
    refused(tmp_path / "s", "not evenly spaced", "0-1: 202.5 mm", "1-2: 1.3 mm", "2-3: 1.2 mm")


def test_a_missing_slice_is_refused(tmp_path, refused):
    write_series(tmp_path / "s", [0.0, 1.0, 2.0, 4.0, 5.0])
    refused(tmp_path / "s", "not evenly spaced", "2-3: 2 mm")


def test_mixed_orientations_are_refused_naming_groups_and_counts(tmp_path, refused):
    """Today's SimpleITK reader stacks them as one volume with a 374 mm spacing."""
    write_series(tmp_path / "s", Z_EVEN, ImageOrientationPatient=[[1, 0, 0, 0, 1, 0]] * 3
                 + [[1, 0, 0, 0, 0, -1]])
    message = refused(tmp_path / "s", "2 DICOM series or slice orientations",
                      "[1, 0, 0, 0, 1, 0]: 3 files", "[1, 0, 0, 0, 0, -1]: 1 files")
    assert message.count("series 1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322") == 2


def test_mixed_series_are_refused_naming_groups_and_counts(tmp_path, refused):
    write_series(tmp_path / "s", Z_EVEN, SeriesInstanceUID=["1.2.3", "1.2.3", "1.2.4", "1.2.3"])
    refused(tmp_path / "s", "series 1.2.3 orientation", "3 files", "series 1.2.4", "1 files")


def test_repeated_positions_are_refused(tmp_path, refused):
    write_series(tmp_path / "s", [-75.7, -73.2, -73.2, -70.7])
    refused(tmp_path / "s", "same position", "-73.2 mm")


def test_sheared_stack_is_refused(tmp_path, refused):
    """Positions drifting within the slice plane (CT gantry tilt) cannot be a grid."""
    write_series(tmp_path / "s", Z_EVEN)
    for k, path in enumerate(sorted((tmp_path / "s").iterdir())):
        ds = pydicom.dcmread(path)
        ds.ImagePositionPatient = [X0, Y0 + 0.7 * k, Z_EVEN[k]]
        ds.save_as(path)
    refused(tmp_path / "s", "drift", "gantry")


def test_single_slice_folder_and_single_files_are_refused(tmp_path, refused):
    write_series(tmp_path / "one", [0.0])
    refused(tmp_path / "one", "single DICOM slice", "2D", "slice spacing")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        refused(get_testdata_file(name), "single DICOM file", "2D", "folder")
    shutil.copy(CT, tmp_path / "noext")
    refused(tmp_path / "noext", "single DICOM file")


@pytest.mark.parametrize("keyword, values, words", [
    ("PixelSpacing", [None] * 4, ["PixelSpacing"]),
    ("PixelSpacing", [[0, 0.66]] * 4, ["PixelSpacing", "positive"]),
    ("PixelSpacing", [[0.66, 0.66]] * 3 + [[0.5, 0.5]], ["differ in pixel spacing"]),
    ("ImageOrientationPatient", [None] * 4, ["ImageOrientationPatient"]),
    ("ImageOrientationPatient", [[2, 0, 0, 0, 1, 0]] * 4, ["ImageOrientationPatient",
                                                             "rotation"]),
    ("ImageOrientationPatient", [["nan", 0, 0, 0, 1, 0]] * 4, ["ImageOrientationPatient",
                                                                 "finite"]),
    ("ImagePositionPatient", [None] * 4, ["ImagePositionPatient"]),
    ("ImagePositionPatient", [[X0, Y0, 1.0]] * 3 + [["inf", 0, 0]], ["ImagePositionPatient",
                                                                       "finite"]),
])
def test_missing_or_bad_geometry_tags_are_refused(keyword, values, words, tmp_path, refused):
    write_series(tmp_path / "s", Z_EVEN, **{keyword: values})
    refused(tmp_path / "s", *words)


def test_oblique_series_is_refused(tmp_path, refused):
    c, s = np.cos(0.3), np.sin(0.3)
    write_series(tmp_path / "s", Z_EVEN, ImageOrientationPatient=[[c, s, 0, -s, c, 0]] * 4)
    refused(tmp_path / "s", "oblique")


def test_slices_of_different_sizes_are_refused_before_decoding(tmp_path, monkeypatch, refused):
    write_series(tmp_path / "s", Z_EVEN[:3])
    mr = write_series(tmp_path / "mr", [Z_EVEN[3]], source=get_testdata_file("MR_small.dcm"))
    ct = pydicom.dcmread(CT)
    ds = pydicom.dcmread(mr[0])
    ds.SeriesInstanceUID, ds.PixelSpacing = ct.SeriesInstanceUID, ct.PixelSpacing
    ds.ImageOrientationPatient = ct.ImageOrientationPatient
    ds.save_as(tmp_path / "s" / "mr.dcm")
    monkeypatch.setattr(sitk, "ReadImage", _no_decoding)
    refused(tmp_path / "s", "differ in size")


def test_non_dicom_files_in_the_folder_are_ignored(tmp_path):
    write_series(tmp_path / "s", Z_EVEN)
    (tmp_path / "s" / "README.txt").write_text("scan notes")
    (tmp_path / "s" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (tmp_path / "s" / "sub").mkdir()
    assert load_volume(tmp_path / "s").shape == (128, 128, 4)


@pytest.mark.parametrize("length", [0, 60, 200])
def test_corrupt_dicom_file_in_the_folder_is_refused_by_name(length, tmp_path, refused):
    """Even cut inside the preamble (no 'DICM' marker left): an end slice is not dropped."""
    write_series(tmp_path / "s", Z_EVEN)
    raw = (tmp_path / "s" / "slice03.dcm").read_bytes()
    (tmp_path / "s" / "slice03.dcm").write_bytes(raw[:length])
    refused(tmp_path / "s", "slice03.dcm", "not a readable DICOM file")


def test_unknown_file_in_the_folder_is_refused_by_name(tmp_path, refused):
    write_series(tmp_path / "s", Z_EVEN)
    (tmp_path / "s" / "IM0005").write_bytes(b"not an image")
    refused(tmp_path / "s", "IM0005")


def test_empty_folder_holds_no_series(tmp_path, refused):
    (tmp_path / "empty").mkdir()
    refused(tmp_path / "empty", "no DICOM series")


def rgb_jpeg(folder, rows, columns, frames=None):
    """pydicom's 3.4 KB RGB JPEG secondary capture, claiming ``rows`` x ``columns``."""
    folder.mkdir()
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm"))
    ds.Rows, ds.Columns = rows, columns
    if frames:
        ds.NumberOfFrames = frames
    ds.save_as(folder / "rgb.dcm")
    assert (folder / "rgb.dcm").stat().st_size < 5000


@pytest.mark.parametrize("frames, word", [(None, "3 components"), (8, "multi-frame")])
def test_small_colour_jpeg_claiming_gigabytes_is_refused_at_once(frames, word, tmp_path,
                                                                monkeypatch, refused):
    rgb_jpeg(tmp_path / "rgb", 8192, 8192, frames)
    monkeypatch.setattr(sitk, "ReadImage", _no_decoding)
    monkeypatch.setattr(sitk.ImageFileReader, "Execute", _no_decoding)
    monkeypatch.setattr(sitk.ImageSeriesReader, "Execute", _no_decoding)
    start = time.perf_counter()
    refused(tmp_path / "rgb", "rgb.dcm", word)
    assert time.perf_counter() - start < 1.0


def test_multi_frame_file_alone_is_refused(tmp_path, refused):
    shutil.copy(get_testdata_file("SC_rgb_rle_2frame.dcm"), tmp_path / "two.dcm")
    refused(tmp_path / "two.dcm", "multi-frame", "2 frames")


def test_series_over_the_size_limit_is_refused_before_decoding(tmp_path, monkeypatch, refused):
    write_series(tmp_path / "s", Z_EVEN)
    monkeypatch.setattr(vio, "MAX_VOXELS", 128 * 128 * 4 - 1)
    monkeypatch.setattr(sitk, "ReadImage", _no_decoding)
    refused(tmp_path / "s", f"{128 * 128 * 4} voxels", "MAX_VOXELS")
    monkeypatch.setattr(vio, "MAX_VOXELS", 128 * 128 * 4)
    monkeypatch.setattr(vio, "MAX_DECODED_BYTES", 128 * 128 * 4 * 4 - 1)  # int32 after rescale
    refused(tmp_path / "s", "MAX_DECODED_BYTES")


def _patched(source, folder, at_marker: bytes, offset: int, value: bytes):
    """A copy of ``source`` in ``folder`` with ``value`` written ``offset`` bytes after the
    first ``at_marker``; plus a valid second slice so that the folder is a series."""
    raw = bytearray(Path(source).read_bytes())
    at = raw.index(at_marker) + offset
    raw[at:at + len(value)] = value
    write_series(folder, [0.0], names=["ok.dcm"])
    (folder / "bad.dcm").write_bytes(bytes(raw))
    return folder


@pytest.mark.parametrize("marker, offset, value, words", [
    (b"\xe0\x7f\x10\x00OW", 8, struct.pack("<I", 0xFFFFFF00), ["(7FE0,0010) claims"]),
    (b"\x10\x00\x10\x00PN", 6, struct.pack("<H", 0xFFF0), ["(0010,0010) claims"]),
    (b"\x10\x00\x10\x00PN", 4, b"Q\xcb", ["(0010,0010)", "no valid VR"]),
    (b"\x02\x00\x10\x00UI", 4, b"WI", ["(0002,0010)", "no valid VR"]),
])
def test_dicom_lengths_past_the_end_are_refused_before_gdcm_reads(marker, offset, value, words,
                                                                  tmp_path, monkeypatch, refused):
    """GDCM allocates a stated length before reading it: one flipped byte in a 40 KB slice
    cost 3.7 GB and 3 s. The lengths are walked first; GDCM never sees the file."""
    folder = _patched(CT, tmp_path / "s", marker, offset, value)
    monkeypatch.setattr(sitk.ImageFileReader, "ReadImageInformation", _no_decoding)
    refused(folder, "bad.dcm", "not a readable DICOM file", *words)


def test_dicom_sequence_item_lengths_are_walked(tmp_path, refused):
    ds = pydicom.dcmread(CT)
    item = pydicom.Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3"
    ds.ReferencedImageSequence = [item]
    ds.save_as(tmp_path / "seq.dcm")
    folder = _patched(tmp_path / "seq.dcm", tmp_path / "s", b"\xfe\xff\x00\xe0", 4,
                      struct.pack("<I", 0x7FFFFFF0))
    refused(folder, "bad.dcm", "sequence item claims")


def test_dicom_length_walk_accepts_every_file_gdcm_reads():
    """No false alarms on pydicom's bundled files: odd transfer syntaxes, big endian,
    implicit VR under an explicit syntax, nested and undefined-length sequences."""
    readable = 0
    for name in pydicom.data.get_testdata_files():
        path = Path(name)
        try:
            itk._itk_header(path, "GDCMImageIO")
        except RuntimeError:
            continue
        dicom_lengths._check_dicom_lengths(path)
        readable += 1
    assert readable > 50
