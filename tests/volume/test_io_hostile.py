"""Hostile and inconsistent headers: every one is refused with a one-line ``ValueError``
naming the file and the field, before any pixel is decoded; nothing is substituted."""

from __future__ import annotations

import gzip
import os
import re
import struct
import time

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from napari_msdl.volume import Volume, load_volume, save_volume
from napari_msdl.volume import io as vio

DATA = np.arange(24, dtype=np.int16).reshape(4, 3, 2)  # i, j, k


# ---------------------------------------------------------------- NRRD


def nrrd(path, fields: str, data: np.ndarray = DATA, sizes="4 3 2"):
    """An attached NRRD of ``data`` (int16, i fastest) with extra header ``fields``."""
    head = (f"NRRD0004\ntype: short\ndimension: 3\nsizes: {sizes}\n{fields}encoding: raw\n"
            "endian: little\n\n")
    path.write_bytes(head.encode() + np.ascontiguousarray(data.T).tobytes())
    return path


@pytest.mark.parametrize("spacings", ["nan 0.6 0.7", "0 0.6 0.7", "-1 0.6 0.7", "inf 0.6 0.7",
                                      "0.5 0.6", "0.5 abc 0.7"])
def test_nrrd_bad_spacings_are_refused(spacings, tmp_path, refused):
    """SimpleITK reads a NaN spacing as 1 and a negative one as a flip."""
    refused(nrrd(tmp_path / "s.nrrd", f"spacings: {spacings}\n"), "spacing")


def test_nrrd_good_spacings_load(tmp_path):
    vol = load_volume(nrrd(tmp_path / "s.nrrd", "spacings: 0.5 0.6 0.7\n"))
    np.testing.assert_array_equal(vol.data, DATA)
    np.testing.assert_allclose(vol.spacing, [0.5, 0.6, 0.7])


@pytest.mark.parametrize("directions, origin, word", [
    ("(nan,0,0) (0,0.6,0) (0,0,0.7)", "(1,2,3)", "space directions"),
    ("(0,0,0) (0,0.6,0) (0,0,0.7)", "(1,2,3)", "spacing 0"),
    ("(inf,0,0) (0,0.6,0) (0,0,0.7)", "(1,2,3)", "space directions"),
    ("(0.5,0,0) junk (0,0,0.7)", "(1,2,3)", "space directions"),
    ("(0.5,0,0) (0,0.6,0) (0,0,0.7)", "(1,nan,3)", "space origin"),
    ("(0.5,0,0) (0,0.6,0) (0,0,0.7)", "(1,inf,3)", "space origin"),
])
def test_nrrd_bad_space_fields_are_refused(directions, origin, word, tmp_path, refused):
    fields = (f"space: left-posterior-superior\nspace directions: {directions}\n"
              f"space origin: {origin}\n")
    refused(nrrd(tmp_path / "d.nrrd", fields), word)


def test_nrrd_flipped_space_directions_are_undone(tmp_path):
    fields = ("space: left-posterior-superior\nspace directions: (-0.5,0,0) (0,0.6,0) "
              "(0,0,0.7)\nspace origin: (10,20,30)\n")
    vol = load_volume(nrrd(tmp_path / "f.nrrd", fields))
    np.testing.assert_array_equal(vol.data, DATA[::-1])
    np.testing.assert_allclose(vol.origin, [10 - 3 * 0.5, 20, 30])


def test_nrrd_spacing_stated_twice_is_refused(tmp_path, refused):
    fields = "space: RAS\nspace directions: (1,0,0) (0,1,0) (0,0,1)\nspacings: 2 2 2\n"
    refused(nrrd(tmp_path / "twice.nrrd", fields), "spacing is stated twice")


def nhdr(folder, data_file: str):
    """A detached NRRD header naming ``data_file``; a valid data file ``a.raw`` beside it."""
    (folder / "a.raw").write_bytes(np.ascontiguousarray(DATA.T).tobytes())
    path = folder / "h.nhdr"
    path.write_text("NRRD0004\ntype: short\ndimension: 3\nsizes: 4 3 2\nspacings: 1 1 1\n"
                    f"encoding: raw\nendian: little\ndata file: {data_file}\n")
    return path


@pytest.mark.parametrize("name, word", [("/dev/zero", "absolute"), ("../a.raw", "outside"),
                                        ("LIST", "single data file"),
                                        ("a%03d.raw 0 2 1", "single data file")])
def test_nhdr_data_file_must_stay_in_the_folder(name, word, tmp_path, refused):
    (tmp_path / "sub").mkdir()
    refused(nhdr(tmp_path / "sub", name), "data file", word)


def test_nhdr_data_file_inside_the_folder_loads(tmp_path):
    np.testing.assert_array_equal(load_volume(nhdr(tmp_path, "a.raw")).data, DATA)
    (tmp_path / "sub").mkdir()
    np.testing.assert_array_equal(load_volume(nhdr(tmp_path, "./sub/../a.raw")).data, DATA)


def test_symlinked_data_file_leading_out_is_refused(tmp_path, refused):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "b.raw").write_bytes(np.ascontiguousarray(DATA.T).tobytes())
    (tmp_path / "in").mkdir()
    os.symlink(tmp_path / "out" / "b.raw", tmp_path / "in" / "link.raw")
    refused(nhdr(tmp_path / "in", "link.raw"), "outside")


def test_nrrd_that_is_not_nrrd_is_refused_without_guessing(tmp_path, refused):
    """A MetaImage named .nrrd is not handed to whichever ITK reader claims it."""
    sitk.WriteImage(sitk.Image([3, 4, 5], sitk.sitkUInt8), str(tmp_path / "m.mha"))
    os.replace(tmp_path / "m.mha", tmp_path / "m.nrrd")
    refused(tmp_path / "m.nrrd", "NRRD magic")


# ---------------------------------------------------------------- MetaImage


def mhd(folder, name="v.mhd", **changes):
    """A valid .mhd + .raw pair written by SimpleITK, with header lines replaced."""
    img = sitk.GetImageFromArray(np.ascontiguousarray(DATA.T))
    img.SetSpacing([0.5, 0.6, 0.7])
    path = folder / name
    sitk.WriteImage(img, str(path))
    text = path.read_text()
    for key, value in changes.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    path.write_text(text)
    return path


@pytest.mark.parametrize("key, value, word", [
    ("ElementSpacing", "nan 0.6 0.7", "spacing"), ("ElementSpacing", "0 0.6 0.7", "spacing"),
    ("ElementSpacing", "-1 0.6 0.7", "spacing"), ("ElementSpacing", "inf 0.6 0.7", "spacing"),
    ("ElementSpacing", "0.5 0.6", "spacing"),
    ("Offset", "nan 0 0", "offset"), ("Offset", "inf 0 0", "offset"), ("Offset", "1 2", "offset"),
    ("TransformMatrix", "nan 0 0 0 1 0 0 0 1", "transformmatrix"),
    ("TransformMatrix", "2 0 0 0 1 0 0 0 1", "rotation"),
    ("TransformMatrix", "0 0 0 0 1 0 0 0 1", "rotation"),
    ("ElementDataFile", "/dev/zero", "absolute"), ("ElementDataFile", "../v.raw", "outside"),
    ("ElementDataFile", "LIST", "single data file"),
    ("NDims", "x", "ndims"),
])
def test_metaimage_bad_header_fields_are_refused(key, value, word, tmp_path, refused):
    """SimpleITK reads a NaN offset as 0, a negative spacing as a flip, a scaled matrix as
    a larger spacing, and an absolute data file (``/dev/zero``) as a volume of zeros."""
    (tmp_path / "sub").mkdir()
    refused(mhd(tmp_path / "sub", **{key: value}), word)


def test_metaimage_channels_are_refused_before_decoding(tmp_path, monkeypatch, refused):
    path = mhd(tmp_path, ElementType="MET_SHORT\nElementNumberOfChannels = 3")
    monkeypatch.setattr(sitk.ImageFileReader, "Execute", _no_decoding)
    refused(path, "components")


def test_metaimage_flip_and_local_data_load(tmp_path):
    vol = load_volume(mhd(tmp_path, TransformMatrix="-1 0 0 0 1 0 0 0 1"))
    np.testing.assert_array_equal(vol.data, DATA[::-1])
    img = sitk.GetImageFromArray(np.ascontiguousarray(DATA.T))
    sitk.WriteImage(img, str(tmp_path / "local.mha"))
    assert "ElementDataFile = LOCAL" in (tmp_path / "local.mha").read_bytes().decode("latin-1")
    np.testing.assert_array_equal(load_volume(tmp_path / "local.mha").data, DATA)


def test_mha_may_not_name_an_outside_file_either(tmp_path, refused):
    path = mhd(tmp_path, "v.mha", ElementDataFile="/dev/zero")
    refused(path, "ElementDataFile", "absolute")


# ---------------------------------------------------------------- NIfTI


_OFFSETS = {name: nib.Nifti1Header.template_dtype.fields[name][1]
            for name in nib.Nifti1Header.template_dtype.names}


def nifti(path, *patches, qcode=1, scode=1):
    """A NIfTI-1 of DATA with spacing (0.5, 0.6, 0.7), its raw header bytes then patched:
    each patch is (field, struct format, value, index). nibabel's own writer would fix
    or refuse most of these values, and its reader silently fixes some (pixdim 0 -> 1)."""
    affine = np.diag([0.5, 0.6, 0.7, 1.0])
    img = nib.Nifti1Image(DATA, affine)
    img.set_qform(affine, code=qcode)
    img.set_sform(affine, code=scode)
    nib.save(img, str(path))
    raw = bytearray(path.read_bytes() if not path.name.endswith(".gz")
                    else gzip.decompress(path.read_bytes()))
    for field, fmt, value, index in patches:
        at = _OFFSETS[field] + index * struct.calcsize(fmt)
        raw[at:at + struct.calcsize(fmt)] = struct.pack("<" + fmt, value)
    path.write_bytes(gzip.compress(bytes(raw)) if path.name.endswith(".gz") else bytes(raw))
    return path


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("value", [0.0, -0.5, NAN, INF])
@pytest.mark.parametrize("codes", [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_nifti_bad_pixdim_is_refused(value, codes, tmp_path, refused):
    """nibabel loads pixdim 0 as 1 and a negative one as its absolute value."""
    path = nifti(tmp_path / "p.nii.gz", ("pixdim", "f", value, 2), qcode=codes[0],
                 scode=codes[1])
    refused(path, "pixdim", "spacing")


@pytest.mark.parametrize("patch, word", [
    (("srow_x", "f", NAN, 0), "srow"), (("srow_y", "f", INF, 3), "srow"),
    (("qoffset_x", "f", NAN, 0), "qoffset"), (("quatern_b", "f", INF, 0), "quatern"),
    (("quatern_b", "f", 1.5, 0), "quatern"),
    (("qoffset_x", "f", 5.0, 0), "disagree"),
    (("pixdim", "f", 0.5, 0), "qfac) must be 1 or -1, got 0.5"),
    (("sform_code", "h", 77, 0), "sform_code"), (("qform_code", "h", -1, 0), "qform_code"),
    (("scl_slope", "f", INF, 0), "scl_slope"),
])
def test_nifti_bad_transforms_are_refused(patch, word, tmp_path, refused):
    refused(nifti(tmp_path / "t.nii", patch), word)


def test_nifti_unused_qform_with_sform_zero_and_qfac_zero_load(tmp_path):
    vol = load_volume(nifti(tmp_path / "q.nii", ("pixdim", "f", 0.0, 0), scode=0))
    np.testing.assert_array_equal(vol.data, DATA)
    np.testing.assert_allclose(vol.spacing, [0.5, 0.6, 0.7], rtol=1e-6)


@pytest.mark.parametrize("code, bitpix, dtype", [(1536, 128, "float128"),
                                                 (32, 64, "complex64"),
                                                 (128, 24, "('R', 'u1')"),
                                                 (1792, 128, "complex128")])
def test_nifti_unsupported_datatypes_are_refused(code, bitpix, dtype, tmp_path, refused):
    path = nifti(tmp_path / "d.nii", ("datatype", "h", code, 0), ("bitpix", "h", bitpix, 0))
    refused(path, "dtype", dtype)


def test_nifti_magic_and_sizeof_hdr_are_checked(tmp_path, refused):
    path = nifti(tmp_path / "m.nii")
    raw = bytearray(path.read_bytes())
    raw[344:348] = b"ni1\0"
    path.write_bytes(bytes(raw))
    refused(path, "magic")
    path.write_bytes(b"\x00" * 400)
    refused(path, "sizeof_hdr")


@pytest.mark.parametrize("name", ["big.nii", "big.nii.gz"])
def test_nifti_header_promising_more_than_the_file_holds(name, tmp_path, monkeypatch, refused):
    """A 400-byte file claiming 2 GB is refused before anything is allocated."""
    path = nifti(tmp_path / name, *[("dim", "h", 1000, i) for i in (1, 2, 3)])
    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__", _no_decoding)
    start = time.perf_counter()
    refused(path, "is truncated: its header promises")
    assert time.perf_counter() - start < 1.0


def test_nifti_gzip_trailer_mismatch_still_loads_a_complete_file(tmp_path):
    """Two gzip members: the trailer gives only the last one's size; the stream is counted."""
    path = nifti(tmp_path / "two.nii.gz")
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[:100]) + gzip.compress(raw[100:]))
    np.testing.assert_array_equal(load_volume(path).data, DATA)


# ---------------------------------------------------------------- size limits, before decoding


class Decoded(BaseException):
    """Raised where pixels would be decoded; no reader's ``except Exception`` hides it."""


def _no_decoding(*args, **kwargs):
    raise Decoded("pixels were decoded although the header should have been refused")


def _save(ext):
    def write(path):
        save_volume(Volume(np.zeros((20, 20, 20), np.int16)), path)
    return write


@pytest.mark.parametrize("ext", [".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".tif",
                                 ".npy", ".npz"])
def test_size_limit_is_checked_before_decoding(ext, tmp_path, monkeypatch, refused):
    path = tmp_path / f"v{ext}"
    _save(ext)(path)
    monkeypatch.setattr(vio, "MAX_VOXELS", 7999)
    monkeypatch.setattr(sitk.ImageFileReader, "Execute", _no_decoding)
    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__", _no_decoding)
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", _no_decoding)
    monkeypatch.setattr(np.lib.format, "read_array", _no_decoding)
    monkeypatch.setattr(np, "fromfile", _no_decoding)
    refused(path, "8000 voxels", "MAX_VOXELS")
    monkeypatch.setattr(vio, "MAX_VOXELS", 8000)
    monkeypatch.setattr(vio, "MAX_DECODED_BYTES", 15999)
    refused(path, "MAX_DECODED_BYTES")


def _npy_header_only(path, shape):
    """A .npy header promising ``shape`` float64 voxels, followed by 100 bytes."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": shape})
        f.write(bytes(100))


def test_npy_header_claiming_too_much_is_refused_at_once(tmp_path, monkeypatch, refused):
    monkeypatch.setattr(np, "fromfile", _no_decoding)
    start = time.perf_counter()
    _npy_header_only(tmp_path / "huge.npy", (2**20, 2**20, 2**20))
    refused(tmp_path / "huge.npy", "voxels", "limit")
    _npy_header_only(tmp_path / "big.npy", (1024, 1024, 1000))  # within the limit
    refused(tmp_path / "big.npy", "is truncated: its header promises 8388608000 bytes")
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------- dtypes


BAD_DTYPES = {
    "float128": np.ones((2, 2, 2), np.longdouble),
    "complex128": np.ones((2, 2, 2), np.complex128),
    "<U2": np.full((2, 2, 2), "ab"),
    "|S2": np.full((2, 2, 2), b"ab"),
    "('a', '<i4')": np.zeros((2, 2, 2), dtype=[("a", "<i4"), ("b", "<f4")]),
    "timedelta64[s]": np.zeros((2, 2, 2), dtype="m8[s]"),
    "datetime64[D]": np.zeros((2, 2, 2), dtype="M8[D]"),
}


@pytest.mark.parametrize("name", list(BAD_DTYPES))
@pytest.mark.parametrize("ext", [".npy", ".npz"])
def test_unsupported_numpy_dtypes_are_refused_with_the_dtype(name, ext, tmp_path, refused):
    if np.dtype(np.longdouble).itemsize <= 8 and name == "float128":
        pytest.skip("long double is float64 here")
    path = tmp_path / f"d{ext}"
    array = BAD_DTYPES[name]
    np.save(path, array) if ext == ".npy" else np.savez(path, data=array)
    refused(path, "dtype", name)


def test_object_arrays_are_refused_with_the_dtype(tmp_path, refused):
    array = np.empty((2, 2, 2), dtype=object)
    np.save(tmp_path / "o.npy", array, allow_pickle=True)
    refused(tmp_path / "o.npy", "dtype object")
    np.savez(tmp_path / "o.npz", data=array)
    refused(tmp_path / "o.npz", "dtype object")
    np.savez(tmp_path / "s.npz", data=np.ones((2, 2, 2)), spacing=np.array([1, 1, 1], object))
    refused(tmp_path / "s.npz", "'spacing'", "dtype object")


def test_npz_side_arrays_must_be_small(tmp_path, refused):
    np.savez(tmp_path / "o.npz", data=np.ones((2, 2, 2)), origin=np.zeros(10**6))
    refused(tmp_path / "o.npz", "'origin'", "at most")


def test_tiff_unsupported_dtype_is_refused(tmp_path, refused):
    path = tmp_path / "c.tif"
    tifffile.imwrite(path, np.ones((2, 3, 4), np.complex64), photometric="minisblack")
    refused(path, "dtype", "complex64")


def test_tiff_with_several_series_is_refused(tmp_path, refused):
    path = tmp_path / "two.tif"
    tifffile.imwrite(path, np.ones((2, 4, 5), np.uint16), photometric="minisblack")
    tifffile.imwrite(path, np.ones((3, 6, 7), np.uint8), photometric="minisblack", append=True)
    refused(path, "2 image series")


@pytest.mark.parametrize("spacing", [[1, 0, 1], [1, float("nan"), 1], [-1, 1, 1], "abc",
                                     {"a": 1}, [1e300, 1, 1], [1e-9, 1, 1]])
def test_tiff_bad_spacing_metadata_is_refused(spacing, tmp_path, refused):
    path = tmp_path / "s.tif"
    tifffile.imwrite(path, np.ones((2, 3, 4), np.uint8), photometric="minisblack",
                     metadata={"spacing": spacing})
    refused(path, "spacing")


# ---------------------------------------------------------------- geometry, paths


@pytest.mark.parametrize("spacing", [[1e300, 1, 1], [1e7, 1, 1], [1e-7, 1, 1]])
def test_spacing_outside_the_accepted_range_is_refused(spacing, tmp_path, refused):
    np.savez(tmp_path / "s.npz", data=np.ones((2, 2, 2)), spacing=spacing)
    refused(tmp_path / "s.npz", "spacing", "1e-06 to 1e+06 mm")


def test_voxels_far_from_the_world_origin_are_refused(tmp_path, refused):
    np.savez(tmp_path / "o.npz", data=np.ones((2, 2, 2)), origin=[1e10, 0, 0])
    refused(tmp_path / "o.npz", "mm from the world origin")
    np.savez(tmp_path / "o.npz", data=np.ones((2, 2, 2)), origin=[0, np.inf, 0])
    refused(tmp_path / "o.npz", "origin")
    np.savez(tmp_path / "o.npz", data=np.ones((2, 2, 2)), origin=["a", "b", "c"])
    refused(tmp_path / "o.npz", "origin")


def test_devices_and_pipes_are_not_read(tmp_path, refused):
    os.symlink("/dev/zero", tmp_path / "zero.npy")
    refused(tmp_path / "zero.npy", "regular file")
    os.mkfifo(tmp_path / "pipe.nii")
    start = time.perf_counter()
    refused(tmp_path / "pipe.nii", "regular file")
    assert time.perf_counter() - start < 1.0


def test_missing_path_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.nrrd"):
        load_volume(tmp_path / "nothere.nrrd")
