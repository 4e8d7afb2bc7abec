"""Writing phantom datasets (streamed, reproducible, resumable) and the bundled samples."""

import json

import numpy as np
import pytest

from napari_msdl._progress import Cancelled
from napari_msdl.dataset import Dataset
from napari_msdl.phantoms import fetch_sample, make_phantom
from napari_msdl.phantoms.dataset import (
    SAMPLE_SEEDS,
    SAMPLE_SHAPE,
    SAMPLE_SPACING,
    case_seed,
    sample_data_path,
    write_phantom_dataset,
)
from napari_msdl.valve import TOPOLOGY, pose_from_mesh

SHAPE, SPACING = (40, 40, 32), 1.5


def test_written_dataset_reads_back_exactly(tmp_path):
    calls = []
    ds = write_phantom_dataset(tmp_path / "ds", 2, seed=3, shape=SHAPE, spacing=SPACING,
                               progress=lambda *a: calls.append(a))
    assert calls[-1] == ("phantoms", 2, 2)
    opened = Dataset.open(tmp_path / "ds")
    assert [c.id for c in opened] == ["phantom-00000", "phantom-00001"] == [c.id for c in ds]
    for i, case in enumerate(opened):
        truth = make_phantom(case_seed(3, i), SHAPE, SPACING)
        assert case.pose == truth.pose  # JSON keeps every digit
        volume = case.load_volume()
        np.testing.assert_array_equal(volume.data, truth.volume.data)
        np.testing.assert_allclose(volume.spacing, SPACING)
        mesh = case.load_mesh()
        np.testing.assert_array_equal(mesh.faces, TOPOLOGY.faces)
        np.testing.assert_allclose(mesh.vertices, truth.mesh.vertices, atol=1e-4)  # float32 PLY
        assert pose_from_mesh(mesh.vertices).allclose(truth.pose, atol=1e-3)
        params = json.loads((tmp_path / "ds" / "params" / f"{case.id}.json").read_text())
        assert params["seed"] == case_seed(3, i)


def test_case_seeds_are_distinct_and_stable():
    seeds = [case_seed(0, i) for i in range(100)] + [case_seed(1, i) for i in range(100)]
    assert len(set(seeds)) == 200
    assert case_seed(5, 7) == case_seed(5, 7)


def test_rerun_is_refused_and_resume_adds_missing_cases(tmp_path):
    root = tmp_path / "ds"
    write_phantom_dataset(root, 1, seed=1, shape=SHAPE, spacing=SPACING)
    first = (root / "images" / "phantom-00000.nii.gz").read_bytes()
    with pytest.raises(ValueError, match="already holds a dataset"):
        write_phantom_dataset(root, 2, seed=1, shape=SHAPE, spacing=SPACING)
    with pytest.raises(ValueError, match="seed"):
        write_phantom_dataset(root, 2, seed=2, shape=SHAPE, spacing=SPACING, resume=True)
    ds = write_phantom_dataset(root, 2, seed=1, shape=SHAPE, spacing=SPACING, resume=True)
    assert len(ds) == 2 and len(Dataset.open(root)) == 2
    assert (root / "images" / "phantom-00000.nii.gz").read_bytes() == first


def test_a_cancelled_run_leaves_a_valid_shorter_dataset(tmp_path):
    def stop_after_one(stage, done, total):
        if done == 1:
            raise Cancelled()

    with pytest.raises(Cancelled):
        write_phantom_dataset(tmp_path / "ds", 3, seed=0, shape=SHAPE, spacing=SPACING,
                              progress=stop_after_one)
    assert len(Dataset.open(tmp_path / "ds")) == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"n": 0}, "n must"), ({"n": 1, "seed": -1}, "seed"), ({"n": 1, "shape": (40, 40)}, "shape"),
    ({"n": 1, "spacing": 0.0}, "spacing")])
def test_bad_arguments_are_refused(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        write_phantom_dataset(tmp_path / "ds", **kwargs)


def test_a_non_empty_folder_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_phantom_dataset(tmp_path, 1, shape=SHAPE, spacing=SPACING)


def test_bundled_samples_load_headless():
    ds = Dataset.open(sample_data_path())
    assert len(ds) == len(SAMPLE_SEEDS) == 3
    case = fetch_sample(1)
    assert case.volume.shape == SAMPLE_SHAPE and case.volume.data.dtype == np.uint8
    assert len(case.mesh.vertices) == TOPOLOGY.n_vertices
    assert case.pose.allclose(pose_from_mesh(case.mesh.vertices), atol=1e-3)
    assert np.all(case.volume.data[~case.fov_mask()] == 0)
    with pytest.raises(ValueError, match="sample index"):
        fetch_sample(3)


def test_bundled_samples_are_up_to_date():
    """Regenerate with ``napari-msdl phantoms --sample-data`` when this fails."""
    truth = make_phantom(SAMPLE_SEEDS[0], SAMPLE_SHAPE, SAMPLE_SPACING)
    case = fetch_sample(0)
    assert case.pose == truth.pose
    np.testing.assert_array_equal(case.volume.data, truth.volume.data)
