"""Real files written by other programs: nibabel's bundled NIfTI test files and pydicom's
bundled DICOM test files. Each loads with every voxel where the file puts it, or is refused
with a one-line ``ValueError`` naming it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_msdl.volume import Volume, load_volume, sample, save_volume

NIB_DATA = Path(nib.__file__).parent / "tests" / "data"


@pytest.mark.parametrize("name", ["anatomical.nii", "reoriented_anat_moved.nii",
                                  "standard.nii.gz"])
def test_nibabel_volumes_load_with_every_voxel_in_place(name):
    img = nib.load(NIB_DATA / name)
    data = np.asanyarray(img.dataobj)
    vol = load_volume(NIB_DATA / name)
    assert vol.data.dtype == data.dtype.newbyteorder("=")
    assert sorted(vol.shape) == sorted(data.shape)
    index = np.stack(np.meshgrid(*map(np.arange, data.shape), indexing="ij"), -1).reshape(-1, 3)
    points = nib.affines.apply_affine(img.affine, index)
    np.testing.assert_allclose(sample(vol, points), data.reshape(-1), rtol=1e-6, atol=1e-4)


def test_nibabel_flipped_anatomical_round_trips_through_every_writer(tmp_path):
    vol = load_volume(NIB_DATA / "anatomical.nii")  # stored with x flipped (RAS, qfac -1)
    for ext in (".nii.gz", ".nrrd", ".mha", ".mhd", ".tif", ".npz"):
        save_volume(vol, tmp_path / f"a{ext}")
        back = load_volume(tmp_path / f"a{ext}")
        np.testing.assert_array_equal(back.data, vol.data)
        np.testing.assert_allclose(back.spacing, vol.spacing, rtol=1e-6)
        np.testing.assert_allclose(back.origin, vol.origin, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, words", [
    ("example4d.nii.gz", ["4D"]), ("functional.nii", ["4D"]),
    ("example_nifti2.nii.gz", ["4D"]), ("row_major.dconn.nii", ["6D"]),
    ("resampled_anat_moved.nii", ["NaN"]), ("analyze.hdr", ["unknown volume format"]),
    ("nifti1.hdr", ["unknown volume format"]),
])
def test_nibabel_non_volumes_are_refused(name, words, refused):
    refused(NIB_DATA / name, *words)


def test_every_bundled_pydicom_file_alone_is_refused_quickly(tmp_path):
    """Each of pydicom's test files (odd transfer syntaxes, colour, multi-frame, broken
    headers) is one slice or one multi-frame file: alone in a folder, or as a file, it is
    refused with a ``ValueError``, never another exception."""
    pydicom_data = pytest.importorskip("pydicom.data")
    files = [Path(f) for f in pydicom_data.get_testdata_files() if Path(f).is_file()]
    assert len(files) > 50
    start = time.perf_counter()
    for n, source in enumerate(files):
        folder = tmp_path / f"f{n}"
        folder.mkdir()
        shutil.copy(source, folder / source.name)
        for path in (folder, folder / source.name):
            with pytest.raises(ValueError) as err:
                load_volume(path)
            assert type(err.value) is ValueError and str(path) in str(err.value)
            assert "\n" not in str(err.value)
    assert time.perf_counter() - start < 30


def test_a_real_volume_is_a_volume():
    assert isinstance(load_volume(NIB_DATA / "anatomical.nii"), Volume)
