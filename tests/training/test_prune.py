"""Pruning: more Algorithm 1 rounds on a trained model, into a new model, input untouched."""

import hashlib
import json

import pytest

from napari_msdl.cli import main
from napari_msdl.detector import load_model
from napari_msdl.sparse.inspect import first_sparse_layer
from napari_msdl.training.prune import prune_model


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _fan_ins(model):
    return {(s, i): first_sparse_layer(n).n_active.max()
            for s, nets in model.stages.items() for i, n in enumerate(nets.networks)}


def test_prune_without_data_reaches_the_target_fan_in_and_keeps_the_input(tiny_detector):
    model_dir, _ = tiny_detector
    model = load_model(model_dir)
    before = _fan_ins(model)
    pruned, report = prune_model(model, sparsity=1 - 10 / 5832, rounds=2,
                                 timing_hypotheses=2000)
    assert set(_fan_ins(pruned).values()) == {10}
    assert _fan_ins(model) == before  # the input model object is not modified
    for stage, nets in report["after"].items():
        for label, after in nets.items():
            assert after["active_inputs"] <= report["before"][stage][label]["active_inputs"]
    assert report["fine_tuned"] is False


def test_pruned_masks_only_lose_ones(tiny_detector):
    model = load_model(tiny_detector[0])
    pruned, _ = prune_model(model, sparsity=1 - 20 / 5832, rounds=1, timing_hypotheses=2000)
    for (_, a), (_, b) in zip(
            [(s, n) for s, ns in model.stages.items() for n in ns.networks],
            [(s, n) for s, ns in pruned.stages.items() for n in ns.networks], strict=True):
        old, new = first_sparse_layer(a).mask, first_sparse_layer(b).mask
        assert bool(((new > 0) <= (old > 0)).all())


def test_prune_with_data_fine_tunes_and_reports_validation(tiny_detector):
    model_dir, data_dir = tiny_detector
    pruned, report = prune_model(load_model(model_dir), sparsity=1 - 16 / 5832, rounds=1,
                                 data=data_dir, timing_hypotheses=2000)
    assert report["fine_tuned"] is True
    assert {"position_error_mean", "corner_error_mean"} <= set(report["validation_after"])
    assert set(_fan_ins(pruned).values()) == {16}


def test_prune_cli_writes_a_new_model_and_never_touches_the_input(tiny_detector, tmp_path,
                                                                  capsys):
    model_dir, _ = tiny_detector
    before = _digest(model_dir)
    out = tmp_path / "pruned"
    assert main(["prune", "--model", str(model_dir), "--out", str(out), "--sparsity", "0.998",
                 "--rounds", "1", "--quiet"]) == 0
    assert _digest(model_dir) == before
    assert set(_fan_ins(load_model(out)).values()) == {12}
    assert "active inputs before" in capsys.readouterr().out
    assert json.loads((tmp_path / "pruned.prune.json").read_text())["rounds"] == 1
    assert main(["prune", "--model", str(model_dir), "--out", str(model_dir),
                 "--sparsity", "0.9"]) == 2


@pytest.mark.parametrize("sparsity", ["0", "1.5"])
def test_bad_sparsity_is_a_one_line_error(tiny_detector, tmp_path, sparsity, capsys):
    assert main(["prune", "--model", str(tiny_detector[0]), "--out", str(tmp_path / "p"),
                 "--sparsity", sparsity]) == 2
    assert "--sparsity" in capsys.readouterr().err
