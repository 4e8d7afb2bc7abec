"""A tiny detector trained here on a handful of small phantoms finds a held-out one."""

import json

import numpy as np
import pytest

from napari_msdl.detector import detect, load_model
from napari_msdl.geometry import corner_error, position_error
from napari_msdl.phantoms import make_phantom
from napari_msdl.training.datasets import create_dataset, put_case
from napari_msdl.training.evaluate import evaluate_model
from napari_msdl.training.train import tiny_config, train_detector

SHAPE = (56, 56, 44)
N_CASES = 10  # 9 for training: with fewer, a tiny model's luck decides the held-out case


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    ds = create_dataset(root / "data")
    for i in range(N_CASES):
        case = make_phantom(1000 + i, shape=SHAPE, spacing=1.0)
        put_case(ds, f"c{i}", case.volume, case.pose)
    calls = []
    model = train_detector(ds, root / "model", tiny_config(val_ids=("c9",)), seed=0,
                           progress=lambda s, d, t: calls.append(s), command="test")
    return root, model, calls


def test_tiny_model_detects_a_held_out_phantom(trained):
    root, model, _ = trained
    case = make_phantom(2000, shape=SHAPE, spacing=1.0)
    det = detect(case.volume, load_model(root / "model"), device="cpu")
    assert position_error(det.pose, case.pose) < 10.0
    assert corner_error(det.pose, case.pose) < 15.0


def test_card_and_progress(trained):
    root, model, calls = trained
    card = json.loads((root / "model" / "model.json").read_text())["card"]
    assert card["seed"] == 0 and card["command"] == "test"
    assert card["data"]["val_ids"] == ["c9"] and card["data"]["train_cases"] == 9
    for stage in ("position", "orientation", "scale"):
        level = card["stages"][stage]["cascade"][0]
        assert level["train"]["recall"] >= 0.99
        assert 0.0 <= level["validation"]["rejected"] <= 1.0
        assert 0.0 < card["sparsity"][stage]["main"] < 1.0
    assert card["training_seconds"] > 0
    assert {"position_error", "corner_error"} <= set(card["validation"])
    assert any(c.startswith("position cascade 1") for c in calls)
    assert any(c.startswith("scale main") for c in calls)


def test_evaluate_writes_table_one(trained, tmp_path):
    root, _, _ = trained
    report = evaluate_model(root / "model", root / "data", tmp_path / "report")
    doc = json.loads((tmp_path / "report" / "report.json").read_text())
    for key in ("position_error", "corner_error"):
        assert set(doc[key]) == {"mean", "median", "std"}
    assert len(doc["cases"]) == N_CASES
    assert set(doc["cases"][0]) >= {"id", "position_error", "corner_error", "seconds"}
    assert np.isclose(doc["position_error"]["mean"],
                      np.mean([c["position_error"] for c in doc["cases"]]))
    assert "Mean" in report["table"] and (tmp_path / "report" / "report.md").is_file()


def test_stage_report_gives_every_cascade_level_and_main_net(trained):
    from napari_msdl.training.train import stage_report

    root, model, _ = trained
    text = stage_report(model.card)
    for stage in ("position", "orientation", "scale"):
        level = model.card["stages"][stage]["cascade"][0]
        assert (f"{stage:<12} cascade 1: keeps {level['train']['recall']:.1%} / "
                f"{level['validation']['recall']:.1%}") in text
        assert f"{stage:<12} main net: validation AUC" in text
    assert len(text.splitlines()) == 6  # one cascade level and a main net per stage
