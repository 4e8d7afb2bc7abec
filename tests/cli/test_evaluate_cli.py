"""``napari-msdl evaluate``: Table I printed and written; one-line errors."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from napari_msdl.bundle import ValveModel, save_bundle
from napari_msdl.cli import main
from napari_msdl.dataset import create_dataset, put_case
from napari_msdl.geometry import Pose
from napari_msdl.volume import Volume

sys.path.insert(0, str(Path(__file__).parents[1] / "detector"))
from test_detect import random_model  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    save_bundle(ValveModel(random_model()), root / "model")
    dense = random_model()
    dense.dense = True
    save_bundle(ValveModel(dense), root / "dense")
    ds = create_dataset(root / "data")
    rng = np.random.default_rng(0)
    for i in range(2):
        vol = Volume(rng.integers(0, 200, (30, 28, 26), dtype=np.uint8), spacing=(1.2,) * 3)
        put_case(ds, f"c{i}", vol, Pose(center=(15, 16, 14), angles=(0.1, 0, 0),
                                         size=(20, 18, 14)))
    return root


def test_evaluate_prints_and_writes_table_one_with_baseline(files, capsys):
    out = files / "report"
    rc = main(["evaluate", "--model", str(files / "model"), "--data", str(files / "data"),
               "--out", str(out), "--baseline", "dense", "--baseline-model",
               str(files / "dense"), "--device", "cpu", "--quiet"])
    assert rc == 0
    doc = json.loads((out / "report.json").read_text())
    for run in (doc, doc["baseline"]):
        assert set(run["position_error"]) == {"mean", "median", "std", "n"}
        assert set(run["corner_error"]) == {"mean", "median", "std", "n"}
        assert [c["id"] for c in run["cases"]] == ["c0", "c1"]
        assert all({"position_error", "corner_error", "seconds"} <= set(c) for c in run["cases"])
    assert doc["baseline"]["kind"] == "dense"
    printed = capsys.readouterr().out
    assert "Position [mm] MSDL" in printed and "Dense" in printed and "Median" in printed
    assert "Mean" in (out / "report.md").read_text()


@pytest.mark.parametrize("extra, message", [
    (["--baseline", "dense"], "--baseline-model"),
    (["--baseline-model", "x"], "--baseline dense"),
    (["--data", "nowhere"], "dataset folder not found"),
])
def test_bad_arguments_are_one_line_errors(files, capsys, extra, message):
    args = ["evaluate", "--model", str(files / "model"), "--data", str(files / "data"),
            "--out", str(files / "r2"), "--quiet", *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
