"""The boundary model joins the bundle (``train --stage boundary``), and ``evaluate`` adds
Tables II and III when the bundle can segment."""

import json
import shutil

from napari_msdl.bundle import ValveModel, load_bundle, save_bundle
from napari_msdl.cli import main
from napari_msdl.evaluation import evaluate_bundle


def test_train_stage_boundary_adds_the_boundary_model_to_a_bundle(tiny_detector, tmp_path):
    model_dir, data_dir = tiny_detector
    bundle = tmp_path / "model"
    shutil.copytree(model_dir, bundle)
    assert load_bundle(bundle).boundary is None
    assert main(["train", "--data", str(data_dir), "--out", str(bundle), "--stage", "boundary",
                 "--quiet"]) == 0
    loaded = load_bundle(bundle)
    assert loaded.boundary is not None
    assert "--stage boundary" in loaded.card.boundary.command
    assert loaded.card.history[-1].action == "boundary model added"
    assert loaded.card.detector == load_bundle(model_dir).card.detector  # detector kept


def test_stage_boundary_needs_an_existing_bundle(tiny_detector, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_detector[1]), "--out", str(tmp_path / "none"),
                 "--stage", "boundary"]) == 2
    assert "model not found" in capsys.readouterr().err


def test_evaluate_adds_tables_two_and_three(tiny_valve_model, tiny_detector, tmp_path):
    report = evaluate_bundle(tiny_valve_model, tiny_detector[1], tmp_path / "r")
    doc = json.loads((tmp_path / "r" / "report.json").read_text())
    for key in ("mesh_error_init", "mesh_error_final"):
        assert set(doc[key]) >= {"mean", "median", "std"}
    assert len(doc["table3"]) >= 2
    md = (tmp_path / "r" / "report.md").read_text()
    assert "Table II" in md and "Table III" in md
    assert report["cases"][0]["pose"]["size"]


def test_table_three_adds_the_dense_baselines_boxes_segmented_by_our_model(
        tiny_valve_model, tiny_detector, tmp_path):
    from napari_msdl.evaluation.report import TABLE3_DENSE

    dense = load_bundle(tiny_detector[0]).detector
    dense.dense = True  # stands in for a dense baseline: only its boxes matter here
    save_bundle(ValveModel(dense), tmp_path / "dense")
    report = evaluate_bundle(tiny_valve_model, tiny_detector[1], tmp_path / "r",
                             baseline=tmp_path / "dense")
    assert report["table3"][TABLE3_DENSE] == report["baseline"]["mesh_error_final"]
    assert report["baseline"]["mesh_error_init"]["n"] == len(report["cases"])
    assert TABLE3_DENSE in (tmp_path / "r" / "report.md").read_text()
