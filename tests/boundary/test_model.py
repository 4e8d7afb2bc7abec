"""BoundaryModel files: exact round trip, clear errors for bad files."""

import json

import numpy as np
import pytest
import torch

from napari_msdl.boundary import BoundaryModel, segment
from napari_msdl.boundary.model import MANIFEST, WEIGHTS


def test_save_load_round_trip_is_exact(tiny_model, unseen_case, tmp_path):
    (tmp_path / "model.json").write_text("{}")  # another part's file in the bundle
    tiny_model.save(tmp_path)
    assert BoundaryModel.present(tmp_path)
    back = BoundaryModel.load(tmp_path)
    for k, v in tiny_model.shape_space.arrays().items():
        np.testing.assert_array_equal(back.shape_space.arrays()[k], v)
    assert back.shape_space.meta() == tiny_model.shape_space.meta()
    for k, v in tiny_model.classifier.state_dict().items():
        assert torch.equal(back.classifier.state_dict()[k], v), k
    assert back.patch == tiny_model.patch and back.deform == tiny_model.deform
    assert back.card == json.loads(json.dumps(tiny_model.card))
    assert (tmp_path / "model.json").read_text() == "{}"
    a = segment(unseen_case.volume, unseen_case.pose, tiny_model, iterations=2)
    b = segment(unseen_case.volume, unseen_case.pose, back, iterations=2)
    np.testing.assert_array_equal(a.vertices, b.vertices)


def _rewrite(folder, **changes):
    doc = json.loads((folder / MANIFEST).read_text())
    doc.update(changes)
    (folder / MANIFEST).write_text(json.dumps(doc))


def test_bad_version_and_foreign_format_are_refused(tiny_model, tmp_path):
    tiny_model.save(tmp_path)
    _rewrite(tmp_path, version=99)
    with pytest.raises(ValueError, match="version 99 is not supported"):
        BoundaryModel.load(tmp_path)
    _rewrite(tmp_path, version=1, format="napari-msdl-detector")
    with pytest.raises(ValueError, match="not a boundary model"):
        BoundaryModel.load(tmp_path)


def test_missing_and_corrupt_files_are_refused(tiny_model, tmp_path):
    with pytest.raises(FileNotFoundError, match=MANIFEST):
        BoundaryModel.load(tmp_path)
    tiny_model.save(tmp_path)
    (tmp_path / WEIGHTS).write_bytes(b"not tensors")
    with pytest.raises(ValueError, match="cannot read tensors"):
        BoundaryModel.load(tmp_path)
    tiny_model.save(tmp_path)
    (tmp_path / MANIFEST).write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        BoundaryModel.load(tmp_path)


def test_dataset_cases_reads_annotated_cases_with_meshes(train_cases, tmp_path):
    from napari_msdl.boundary import dataset_cases
    from napari_msdl.training.datasets import Dataset, create_dataset, put_case

    ds = create_dataset(tmp_path / "ds")
    put_case(ds, "a", train_cases[0].volume, train_cases[0].pose, train_cases[0].mesh)
    put_case(ds, "b", train_cases[1].volume, train_cases[1].pose)  # no mesh: skipped
    got = list(dataset_cases(Dataset.open(tmp_path / "ds")))
    assert len(got) == 1
    volume, pose, mesh = got[0]
    np.testing.assert_array_equal(volume.data, train_cases[0].volume.data)
    assert pose.allclose(train_cases[0].pose)
    np.testing.assert_allclose(mesh.vertices, train_cases[0].mesh.vertices, atol=1e-4)
