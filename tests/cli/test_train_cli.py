"""``napari-msdl train``: a bundle on success, nothing half-written on failure."""

import json

import numpy as np
import pytest

from napari_msdl.bundle import MANIFEST, load_bundle
from napari_msdl.cli import main
from napari_msdl.dataset import create_dataset, put_case
from napari_msdl.geometry import Pose
from napari_msdl.volume import Volume


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train") / "data"
    ds = create_dataset(root)
    rng = np.random.default_rng(0)
    for i in range(3):
        vol = Volume(rng.integers(0, 200, (30, 28, 26), dtype=np.uint8), spacing=(1.2,) * 3)
        pose = Pose(center=(15 + i, 16, 14), angles=(0.1 * i, 0, 0.05), size=(20, 18, 14))
        put_case(ds, f"c{i}", vol, pose)
    return root


def test_train_writes_a_bundle_with_its_card(data, tmp_path, capsys):
    out = tmp_path / "model"
    rc = main(["train", "--data", str(data), "--out", str(out), "--seed", "3", "--tiny",
               "--epochs", "1", "--rounds", "1", "--val", "c2", "--shifts", "2", "--fov-cut", "0.3",
               "--quiet"])
    assert rc == 0
    card = json.loads((out / MANIFEST).read_text())["card"]
    record = card["detector"]
    assert record["seed"] == 3 and record["data"]["val_ids"] == ["c2"]
    assert record["config"]["shifts"] == 2  # the tiny configuration's 1, overridden
    assert record["config"]["fov_cut_share"] == 0.3
    assert "train" in record["command"] and record["seconds"] > 0
    assert set(record["figures"]["sparsity"]) == set(load_bundle(out).detector.networks())
    printed = capsys.readouterr().out
    assert "position.cascade1" in printed and "scale.main             validation AUC" in printed


@pytest.mark.parametrize("extra, message", [
    (["--val-fraction", "1.5"], "--val-fraction"),
    (["--val", "nobody"], "validation ids"),
    (["--epochs", "-1"], "--epochs"),
    (["--shifts", "0"], "--shifts"),
    (["--fov-cut", "1.5"], "--fov-cut"),
    (["--scratch", "/no/such/scratch"], "scratch folder not found: /no/such/scratch"),
])
def test_bad_arguments_are_one_line_errors(data, tmp_path, capsys, extra, message):
    rc = main(["train", "--data", str(data), "--out", str(tmp_path / "m"), "--tiny", "--quiet",
               *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "m").exists()


def test_missing_dataset(tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "m")]) == 2
    assert "not found" in capsys.readouterr().err


def test_interrupt_leaves_no_model(data, tmp_path, monkeypatch, capsys):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("napari_msdl.training.train.train_stage", interrupt)
    out = tmp_path / "model"
    assert main(["train", "--data", str(data), "--out", str(out), "--tiny", "--quiet"]) == 130
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_train_from_a_model_fine_tunes_it_with_the_epochs_asked(tiny_detector, tmp_path,
                                                                capsys):
    model, data = tiny_detector
    out = tmp_path / "tuned"
    rc = main(["train", "--from", str(model), "--data", str(data), "--out", str(out),
               "--epochs", "1", "--rounds", "1", "--augment", "0", "--quiet"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert f"fine-tuned {model}" in printed and "the parent has no boundary model" in printed
    entry = load_bundle(out).card.history[-1]
    assert entry.action == "fine-tuned" and entry.parent == str(model)
    assert entry.parameters["fine_tune"]["pretrain_epochs"] == 1
    assert entry.parameters["fine_tune"]["epochs_per_round"] == 1
    assert entry.parameters["augment_copies"] == 0


def test_train_from_and_dense_are_refused_before_any_work(tiny_detector, tmp_path, capsys):
    model, data = tiny_detector
    rc = main(["train", "--from", str(model), "--dense", "--data", str(data),
               "--out", str(tmp_path / "m"), "--quiet"])
    assert rc != 0 and "cannot be fine-tuned" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()
