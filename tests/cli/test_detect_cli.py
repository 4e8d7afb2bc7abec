"""``napari-msdl detect``: the documented JSON, and one-line errors for bad input."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_msdl.bundle import ValveModel, save_bundle
from napari_msdl.cli import main
from napari_msdl.volume import Volume, save_volume

sys.path.insert(0, str(Path(__file__).parents[1] / "detector"))
from test_detect import random_model  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    save_bundle(ValveModel(random_model()), root / "model")
    rng = np.random.default_rng(0)
    save_volume(Volume(rng.integers(0, 200, (30, 28, 26), dtype=np.uint8),
                       spacing=(1.2, 1.2, 1.4)), root / "image.nii.gz")
    save_volume(Volume(np.full((20, 20, 20), 5, dtype=np.uint8)), root / "flat.nii.gz")
    np.save(root / "flat2d.npy", np.zeros((20, 20), dtype=np.float32))
    (root / "notamodel").mkdir()
    return root


def test_detect_writes_the_documented_json(files, capsys):
    out = files / "out.json"
    rc = main(["detect", str(files / "image.nii.gz"), "--model", str(files / "model"),
               "--out", str(out), "--device", "cpu", "--quiet"])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert set(doc["pose"]) == {"center", "angles", "size"}
    assert all(len(doc["pose"][k]) == 3 for k in doc["pose"])
    assert np.asarray(doc["corners"]).shape == (8, 3)
    assert isinstance(doc["score"], float)
    assert {"prepare", "position", "orientation", "scale", "total"} <= set(doc["timings"])
    assert "valve at" in capsys.readouterr().out


@pytest.mark.parametrize("image, model, message", [
    ("missing.nii.gz", "model", "no such file"),
    ("flat.nii.gz", "model", "constant"),
    ("flat2d.npy", "model", "3D"),
    ("image.nii.gz", "nowhere", "model not found"),
    ("image.nii.gz", "notamodel", "not a napari-msdl model"),
])
def test_bad_input_is_one_line_and_exit_2(files, capsys, image, model, message):
    rc = main(["detect", str(files / image), "--model", str(files / model),
               "--out", str(files / "bad.json"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err
    assert not (files / "bad.json").exists()
