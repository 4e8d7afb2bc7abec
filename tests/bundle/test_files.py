"""Model bundles on disk: exact round trip of every part, atomic writes, clear errors."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_msdl.boundary import segment
from napari_msdl.bundle import (
    MANIFEST,
    WEIGHTS,
    ModelCard,
    TrainingRecord,
    ValveModel,
    load_bundle,
    save_bundle,
)

sys.path.insert(0, str(Path(__file__).parents[1] / "detector"))
from test_detect import random_model  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model):
    card = ModelCard(detector=TrainingRecord(command="test", seed=3, figures={"note": "x"}),
                     boundary=TrainingRecord(seed=4))
    model = ValveModel(random_model(), tiny_model, card)
    path = tmp_path_factory.mktemp("bundle") / "model"
    save_bundle(model, path)
    return model, path


def _same_nets(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip_is_exact(saved, unseen_case):
    model, path = saved
    back = load_bundle(path)
    assert back.path == path and back.card == model.card
    det, other = model.detector, back.detector
    assert other.dense == det.dense and other.search == det.search
    np.testing.assert_array_equal(other.orientations.rotations, det.orientations.rotations)
    np.testing.assert_array_equal(other.sizes.sizes, det.sizes.sizes)
    assert list(other.networks()) == list(det.networks())
    for name, nets in det.stages.items():
        assert other.stages[name].thresholds == nets.thresholds
    for name, net in det.networks().items():
        _same_nets(net, other.network(name))
    _same_nets(model.boundary.classifier, back.boundary.classifier)
    for k, v in model.boundary.shape_space.arrays().items():
        np.testing.assert_array_equal(back.boundary.shape_space.arrays()[k], v)
    assert back.boundary.patch == model.boundary.patch
    assert back.boundary.deform == model.boundary.deform
    a = segment(unseen_case.volume, unseen_case.pose, model.boundary, iterations=2)
    b = segment(unseen_case.volume, unseen_case.pose, back.boundary, iterations=2)
    np.testing.assert_array_equal(a.vertices, b.vertices)


def test_one_manifest_one_weights_file_and_tensors_named_by_network(saved):
    from safetensors.torch import load_file

    model, path = saved
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST, WEIGHTS]
    keys = load_file(str(path / WEIGHTS)).keys()
    nets = {k.split(".")[1] + "." + k.split(".")[2] for k in keys if k.startswith("detector.")}
    assert nets == set(model.detector.networks())
    doc = json.loads((path / MANIFEST).read_text())
    assert list(doc["detector"]["networks"]) == list(model.detector.networks())
    assert (path / WEIGHTS).stat().st_size < 6e6  # sparse first layers stored compactly


def test_a_bundle_without_boundary_model(tmp_path):
    model = ValveModel(random_model())
    save_bundle(model, tmp_path / "m")
    back = load_bundle(tmp_path / "m")
    assert back.boundary is None and back.card.boundary is None
    with pytest.raises(ValueError, match="boundary"):
        save_bundle(ValveModel(random_model(), None, ModelCard(boundary=TrainingRecord())),
                    tmp_path / "n")
    assert not (tmp_path / "n").exists()


def _copy(path, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for f in path.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    return out


def test_corrupt_foreign_and_wrong_version_bundles(saved, tmp_path):
    _, path = saved
    bad = _copy(path, tmp_path)
    doc = json.loads((bad / MANIFEST).read_text())
    cases = [({**doc, "version": 99}, "version 99"),
             ({**doc, "format": "something-else"}, "not a napari-msdl model bundle"),
             ({**doc, "extra": 1}, "unknown bundle keys"),
             ({**doc, "card": {**doc["card"], "version": 7}}, "card version 7"),
             ({**doc, "boundary": None}, "disagree")]
    for bad_doc, message in cases:
        (bad / MANIFEST).write_text(json.dumps(bad_doc))
        with pytest.raises(ValueError, match=message):
            load_bundle(bad)
    (bad / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        load_bundle(bad)
    (bad / MANIFEST).write_text(json.dumps(doc))
    (bad / WEIGHTS).write_bytes((path / WEIGHTS).read_bytes()[:1000])
    with pytest.raises(ValueError, match="corrupt weights"):
        load_bundle(bad)
    (bad / WEIGHTS).unlink()
    with pytest.raises(ValueError, match="weights.safetensors is missing"):
        load_bundle(bad)
    with pytest.raises(FileNotFoundError):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "file.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="folder"):
        load_bundle(tmp_path / "file.bin")


def test_the_earlier_layout_is_named_in_the_error(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ValueError, match="0.1's layout"):
        load_bundle(tmp_path)


@pytest.mark.parametrize("prefix", ["detector.scale.main", "detector.position.cascade1",
                                    "boundary.classifier", "boundary.shape.mean"])
def test_a_missing_tensor_is_a_clear_error(saved, tmp_path, prefix):
    from safetensors.torch import load_file, save_file

    _, path = saved
    bad = _copy(path, tmp_path)
    tensors = load_file(str(bad / WEIGHTS))
    tensors.pop(next(k for k in tensors if k.startswith(prefix)))
    save_file(tensors, str(bad / WEIGHTS))
    with pytest.raises(ValueError, match="corrupt model bundle"):
        load_bundle(bad)


def test_cascade_levels_must_count_from_one(saved, tmp_path):
    _, path = saved
    bad = _copy(path, tmp_path)
    doc = json.loads((bad / MANIFEST).read_text())
    nets = doc["detector"]["networks"]
    nets["scale.cascade3"] = nets["scale.cascade1"]
    (bad / MANIFEST).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="scale.cascade3"):
        load_bundle(bad)


def test_failed_write_leaves_the_old_model(saved, tmp_path, monkeypatch):
    model, path = saved
    target = _copy(path, tmp_path)
    before = {f.name: f.read_bytes() for f in target.iterdir()}

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        save_bundle(model, target)
    assert {f.name: f.read_bytes() for f in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]
