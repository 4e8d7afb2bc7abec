"""Reading and writing volumes: round trips over every format, orientation, bad input."""

from __future__ import annotations

import gzip
import os

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from napari_msdl.volume import SUPPORTED_EXTENSIONS, Volume, load_volume, sample, save_volume
from napari_msdl.volume.formats import writers

COMMON_DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.int64,
                 np.float32, np.float64]
ANY_DTYPES = [*COMMON_DTYPES, np.float16, np.bool_]
FREE_DTYPE_EXTS = (".tif", ".tiff", ".npy", ".npz")


def random_volume(rng: np.random.Generator, dtype) -> Volume:
    shape = tuple(int(n) for n in rng.integers(2, 9, size=3))
    if np.dtype(dtype) == bool:
        data = rng.random(shape) > 0.5
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
    else:
        data = (rng.standard_normal(shape) * 100).astype(dtype)
    return Volume(data, spacing=rng.uniform(0.3, 2.0, 3), origin=rng.uniform(-50, 50, 3))


@pytest.mark.parametrize("ext", list(SUPPORTED_EXTENSIONS))
def test_round_trip_keeps_data_dtype_spacing_origin(ext, tmp_path):
    rng = np.random.default_rng(sum(map(ord, ext)))
    dtypes = ANY_DTYPES if ext in FREE_DTYPE_EXTS else COMMON_DTYPES
    for n, dtype in enumerate(dtypes):
        vol = random_volume(rng, dtype)
        path = tmp_path / f"case{n}{ext}"
        save_volume(vol, path)
        back = load_volume(path)
        assert back.data.dtype == vol.data.dtype, (ext, dtype)
        np.testing.assert_array_equal(back.data, vol.data)
        if ext == ".npy":  # no metadata: the defaults
            np.testing.assert_array_equal(back.spacing, 1.0)
            np.testing.assert_array_equal(back.origin, 0.0)
            continue
        # NIfTI stores float32; NRRD's text header may lose the last bit of a double.
        tol = 1e-5 if ext.startswith(".nii") else 1e-12
        np.testing.assert_allclose(back.spacing, vol.spacing, rtol=tol, atol=tol)
        np.testing.assert_allclose(back.origin, vol.origin, rtol=tol, atol=tol)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    old = Volume(np.ones((2, 3, 4), np.uint8))
    path = tmp_path / "v.npz"
    save_volume(old, path)

    def broken(volume, tmp):
        tmp.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    monkeypatch.setitem(writers._WRITERS, ".npz", broken)
    with pytest.raises(OSError, match="v.npz"):
        save_volume(Volume(np.zeros((5, 5, 5))), path)
    np.testing.assert_array_equal(load_volume(path).data, old.data)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.npz"]


@pytest.mark.parametrize("ext", [".mha", ".nrrd", ".mhd"])
def test_itk_axes_are_transposed_to_ijk(ext, tmp_path):
    """A voxel set through SimpleITK's own (i, j, k) API is found at data[i, j, k], at the
    physical point ITK gives it, and our writer puts it back where ITK expects it."""
    img = sitk.Image([3, 5, 7], sitk.sitkInt16)
    img.SetSpacing([0.5, 0.75, 1.25])
    img.SetOrigin([-4.0, 2.5, 10.0])
    img.SetPixel([2, 1, 4], 99)
    path = tmp_path / f"itk{ext}"
    sitk.WriteImage(img, str(path))
    vol = load_volume(path)
    assert vol.shape == (3, 5, 7)
    assert vol.data[2, 1, 4] == 99 and vol.data.sum() == 99
    np.testing.assert_allclose(vol.index_to_world([2, 1, 4]),
                               img.TransformIndexToPhysicalPoint([2, 1, 4]))
    np.testing.assert_allclose(sample(vol, vol.index_to_world([[2, 1, 4]])), [99])
    out = tmp_path / f"ours{ext}"
    save_volume(vol, out)
    again = sitk.ReadImage(str(out))
    assert again.GetSize() == (3, 5, 7) and again.GetPixel([2, 1, 4]) == 99
    np.testing.assert_allclose(again.GetOrigin(), img.GetOrigin())
    np.testing.assert_allclose(again.GetSpacing(), img.GetSpacing())


def assert_points_keep_values(vol: Volume, data: np.ndarray, axes: np.ndarray, origin):
    """Every voxel of ``data`` at physical ``origin + axes @ index`` reads the same in ``vol``."""
    index = np.stack(np.meshgrid(*map(np.arange, data.shape), indexing="ij"), -1).reshape(-1, 3)
    points = np.asarray(origin) + index @ axes.T
    np.testing.assert_allclose(sample(vol, points), data.reshape(-1), rtol=1e-6)
    assert np.all(vol.spacing > 0)


AXES = {
    "ras_flip": np.diag([-0.5, -0.75, 1.25]),
    "permuted": np.array([[0.0, 0.0, 1.25], [0.5, 0.0, 0.0], [0.0, -0.75, 0.0]]),
}


@pytest.mark.parametrize("name", list(AXES))
def test_nifti_axis_permutation_is_reoriented_in_place(name, tmp_path):
    rng = np.random.default_rng(3)
    data = rng.random((4, 5, 6)).astype(np.float32)
    affine = np.eye(4)
    affine[:3, :3] = AXES[name]
    affine[:3, 3] = [12.0, -7.5, 3.0]
    path = tmp_path / f"{name}.nii.gz"
    nib.save(nib.Nifti1Image(data, affine), str(path))
    vol = load_volume(path)
    assert sorted(vol.shape) == [4, 5, 6]
    assert_points_keep_values(vol, data, AXES[name], affine[:3, 3])


def test_itk_flipped_direction_is_reoriented_in_place(tmp_path):
    data = np.random.default_rng(4).random((4, 5, 6))
    img = sitk.GetImageFromArray(data.transpose(2, 1, 0).copy())
    img.SetSpacing([0.5, 0.75, 1.25])
    img.SetOrigin([1.0, 2.0, 3.0])
    img.SetDirection([-1, 0, 0, 0, 1, 0, 0, 0, -1])
    path = tmp_path / "flip.mha"
    sitk.WriteImage(img, str(path))
    vol = load_volume(path)
    assert vol.shape == (4, 5, 6)
    assert_points_keep_values(vol, data, np.diag([-0.5, 0.75, -1.25]), [1.0, 2.0, 3.0])


def test_oblique_direction_is_refused(tmp_path):
    c, s = np.cos(0.5), np.sin(0.5)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:2, :2] = [[c, -s], [s, c]]
    path = tmp_path / "oblique.nii"
    nib.save(nib.Nifti1Image(np.ones((3, 4, 5), np.float32), affine), str(path))
    with pytest.raises(ValueError, match="oblique") as err:
        load_volume(path)
    assert str(path) in str(err.value) and "Resample" in str(err.value)
    assert f"{c:.6f}"[:6] in str(err.value)

    img = sitk.Image([3, 4, 5], sitk.sitkUInt8)
    img.SetDirection([c, -s, 0, s, c, 0, 0, 0, 1])
    mha = tmp_path / "oblique.mha"
    sitk.WriteImage(img, str(mha))
    with pytest.raises(ValueError, match="oblique"):
        load_volume(mha)


def write_dicom_series(folder, data: np.ndarray, spacing, origin) -> None:
    """A DICOM series, one file per k slice, written with SimpleITK alone."""
    folder.mkdir()
    img = sitk.GetImageFromArray(data.transpose(2, 1, 0).copy())
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid = "1.2.826.0.1.3680043.2.1125.1.42"
    for k in range(img.GetDepth()):
        sl = img[:, :, k]
        position = img.TransformIndexToPhysicalPoint((0, 0, k))
        for tag, value in {"0008|0060": "CT", "0020|000e": series_uid,
                           "0020|000d": "1.2.826.0.1.3680043.2.1125.1.41",
                           "0008|0018": f"{series_uid}.{k + 1}", "0020|0013": str(k + 1),
                           "0020|0037": "1\\0\\0\\0\\1\\0",
                           "0020|0032": "\\".join(f"{p:.4f}" for p in position)}.items():
            sl.SetMetaData(tag, value)
        writer.SetFileName(str(folder / f"slice{k:03d}.dcm"))
        writer.Execute(sl)


def test_dicom_series_folder(tmp_path):
    data = np.random.default_rng(5).integers(-1000, 3000, (6, 7, 5)).astype(np.int16)
    write_dicom_series(tmp_path / "series", data, [0.5, 0.75, 1.25], [-10.0, 20.0, 30.0])
    vol = load_volume(tmp_path / "series")
    assert vol.shape == (6, 7, 5)
    np.testing.assert_array_equal(vol.data, data)
    np.testing.assert_allclose(vol.spacing, [0.5, 0.75, 1.25], atol=1e-6)
    np.testing.assert_allclose(vol.origin, [-10.0, 20.0, 30.0], atol=1e-6)


def test_four_d_with_trailing_singleton_and_constant_volume_load(tmp_path):
    path = tmp_path / "t.nii.gz"
    nib.save(nib.Nifti1Image(np.full((3, 4, 5, 1), 7, np.uint8), np.eye(4)), str(path))
    vol = load_volume(path)
    assert vol.shape == (3, 4, 5) and vol.is_constant()
    with pytest.raises(ValueError, match="constant"):
        vol.require_contrast("detection")


def _save_npy(array):
    return lambda p: np.save(p, array)


def _nifti_with_zero_column(path):
    """A NIfTI whose sform gives axis 1 no length (nibabel will not build it from an affine)."""
    header = nib.Nifti1Header()
    header.set_data_shape((2, 2, 2))
    header.set_data_dtype(np.float32)
    header.set_sform(np.diag([1.0, 0.0, 1.0, 1.0]), code=1)
    nib.save(nib.Nifti1Image(np.ones((2, 2, 2), np.float32), None, header=header), str(path))


def _truncate(path):
    """A valid file of its format, cut in half."""
    save_volume(Volume(np.random.default_rng(0).random((20, 20, 20))), path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])


BAD_FILES = {
    "unknown.xyz": (lambda p: p.write_text("hello"), ValueError, "supported"),
    "truncated.nii.gz": (_truncate, ValueError, "could not read"),
    "truncated.nii": (_truncate, ValueError, "could not read"),
    "truncated.mha": (_truncate, ValueError, "could not read"),
    "truncated.tif": (_truncate, ValueError, "could not read"),
    "garbage.nrrd": (lambda p: p.write_bytes(os.urandom(300)), ValueError, "could not read"),
    "garbage.npy": (lambda p: p.write_bytes(b"\x93NUMPY garbage"), ValueError, "could not read"),
    "not_gzip.nii.gz": (lambda p: p.write_bytes(gzip.compress(b"x" * 10)[:8]), ValueError,
                        "could not read"),
    "flat.npy": (_save_npy(np.ones((4, 5))), ValueError, "2D"),
    "fourd.npy": (_save_npy(np.ones((4, 5, 6, 2))), ValueError, "4D"),
    "empty.npy": (_save_npy(np.ones((0, 5, 6))), ValueError, "empty"),
    "nan.npz": (lambda p: np.savez(p, data=np.full((2, 2, 2), np.nan)), ValueError, "NaN"),
    "zero_spacing.npz": (lambda p: np.savez(p, data=np.ones((2, 2, 2)), spacing=[1, 0, 1]),
                         ValueError, "spacing"),
    "negative_spacing.npz": (lambda p: np.savez(p, data=np.ones((2, 2, 2)), spacing=[1, -1, 1]),
                             ValueError, "spacing"),
    "no_data.npz": (lambda p: np.savez(p, image=np.ones((2, 2, 2))), ValueError, "'data'"),
    "zero_column.nii": (_nifti_with_zero_column, ValueError, "spacing"),
    "vector.mha": (lambda p: sitk.WriteImage(sitk.Image([3, 4, 5], sitk.sitkVectorFloat32, 3),
                                             str(p)), ValueError, "components"),
    "nodicom": (lambda p: p.mkdir(), ValueError, "no DICOM series"),
    "rgb.tif": (lambda p: _tiff(p, np.zeros((4, 5, 3), np.uint8), photometric="rgb"), ValueError,
                "colour"),
    "missing_raw.mhd": (lambda p: save_volume(Volume(np.ones((2, 3, 4))), p)
                        or p.with_suffix(".raw").unlink(), ValueError, "could not read"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_files_get_an_error_naming_the_file(name, tmp_path):
    write, error, message = BAD_FILES[name]
    path = tmp_path / name
    write(path)
    with pytest.raises(error, match=message) as err:
        load_volume(path)
    assert str(path) in str(err.value)
    if message == "could not read":
        assert err.value.__cause__ is not None


def _tiff(path, data, photometric="minisblack"):
    """A TIFF as another program writes it: no napari-msdl metadata."""
    tifffile.imwrite(path, data, metadata=None, photometric=photometric)


def test_infinite_values_are_refused_and_plain_tiffs_get_unit_spacing(tmp_path):
    path = tmp_path / "inf.tif"
    data = np.zeros((2, 3, 4), np.float32)
    data[1, 1, 1] = np.inf
    _tiff(path, data)
    with pytest.raises(ValueError, match="infinite") as err:
        load_volume(path)
    assert str(path) in str(err.value)
    _tiff(tmp_path / "plain.tiff", np.ones((2, 3, 4), np.uint16))
    plain = load_volume(tmp_path / "plain.tiff")
    assert plain.shape == (2, 3, 4) and plain.spacing.tolist() == [1.0, 1.0, 1.0]


def test_missing_file_and_unsupported_dtype(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.nii.gz"):
        load_volume(tmp_path / "missing.nii.gz")
    path = tmp_path / "half.nii.gz"
    with pytest.raises(ValueError, match="float16") as err:
        save_volume(Volume(np.ones((2, 2, 2), np.float16)), path)
    assert str(path) in str(err.value) and not path.exists()
    with pytest.raises(ValueError, match="supported"):
        save_volume(Volume(np.ones((2, 2, 2))), tmp_path / "v.png")
