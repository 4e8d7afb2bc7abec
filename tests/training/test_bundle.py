"""Model bundles: exact round trip, atomic writes, clear errors for bad files."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_msdl.training.bundle import MANIFEST, WEIGHTS, load_model, save_model

sys.path.insert(0, str(Path(__file__).parents[1] / "detector"))
from test_detect import random_model  # noqa: E402


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    model = random_model()
    model.card = {"seed": 3, "note": "test"}
    path = tmp_path_factory.mktemp("bundle") / "model"
    save_model(model, path)
    return model, path


def test_round_trip_is_exact(saved):
    model, path = saved
    back = load_model(path)
    assert back.card == model.card and back.dense == model.dense
    assert back.search == model.search
    np.testing.assert_array_equal(back.orientations.rotations, model.orientations.rotations)
    np.testing.assert_array_equal(back.sizes.sizes, model.sizes.sizes)
    for name, nets in model.stages.items():
        other = back.stages[name]
        assert other.thresholds == nets.thresholds
        for a, b in zip(nets.networks, other.networks, strict=True):
            sa, sb = a.state_dict(), b.state_dict()
            assert sa.keys() == sb.keys()
            for k in sa:
                assert torch.equal(sa[k], sb[k]), (name, k)
    assert sorted(p.name for p in path.iterdir()) == [MANIFEST, WEIGHTS]


def test_bundle_is_small(saved):
    _, path = saved
    assert (path / WEIGHTS).stat().st_size < 6e6  # sparse first layers stored compactly


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
    (bad / MANIFEST).write_text(json.dumps({**doc, "version": 99}))
    with pytest.raises(ValueError, match="version 99"):
        load_model(bad)
    (bad / MANIFEST).write_text(json.dumps({**doc, "format": "something-else"}))
    with pytest.raises(ValueError, match="not a napari-msdl detector model"):
        load_model(bad)
    (bad / MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        load_model(bad)
    (bad / MANIFEST).write_text(json.dumps(doc))
    (bad / WEIGHTS).write_bytes((path / WEIGHTS).read_bytes()[:1000])
    with pytest.raises(ValueError, match="corrupt weights"):
        load_model(bad)
    (bad / WEIGHTS).unlink()
    with pytest.raises(ValueError, match="weights.safetensors is missing"):
        load_model(bad)
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nowhere")
    (tmp_path / "file.bin").write_bytes(b"\x00" * 10)
    with pytest.raises(ValueError, match="folder"):
        load_model(tmp_path / "file.bin")


def test_missing_tensor_is_a_clear_error(saved, tmp_path):
    from safetensors.torch import load_file, save_file

    _, path = saved
    bad = _copy(path, tmp_path)
    tensors = load_file(str(bad / WEIGHTS))
    tensors.pop(next(k for k in tensors if k.startswith("scale.main")))
    save_file(tensors, str(bad / WEIGHTS))
    with pytest.raises(ValueError, match="corrupt model bundle"):
        load_model(bad)


def test_failed_write_leaves_the_old_model(saved, tmp_path, monkeypatch):
    model, path = saved
    target = _copy(path, tmp_path)
    before = {f.name: f.read_bytes() for f in target.iterdir()}

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("safetensors.torch.save_file", boom)
    with pytest.raises(KeyboardInterrupt):
        save_model(model, target)
    assert {f.name: f.read_bytes() for f in target.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]
