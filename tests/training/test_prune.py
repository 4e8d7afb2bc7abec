"""Pruning: more Algorithm 1 rounds on a bundle's detector, into a new bundle that keeps
every part; the input untouched."""

import hashlib

import pytest

from napari_msdl.bundle import load_bundle
from napari_msdl.cli import main
from napari_msdl.sparse.inspect import first_sparse_layer
from napari_msdl.training import PruneConfig, prune_bundle
from napari_msdl.training.prune import prune_model


def _digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _fan_ins(detector):
    return {name: first_sparse_layer(n).n_active.max()
            for name, n in detector.networks().items()}


def test_prune_without_data_reaches_the_target_fan_in_and_keeps_the_input(tiny_detector):
    model = load_bundle(tiny_detector[0]).detector
    before = _fan_ins(model)
    pruned, report = prune_model(model, PruneConfig(1 - 10 / 5832, rounds=2,
                                                    timing_hypotheses=2000))
    assert set(_fan_ins(pruned).values()) == {10}
    assert _fan_ins(model) == before  # the input model object is not modified
    for name, after in report["after"].items():
        assert after["active_inputs"] <= report["before"][name]["active_inputs"]
    assert report["fine_tuned"] is False


def test_pruned_masks_only_lose_ones(tiny_detector):
    model = load_bundle(tiny_detector[0]).detector
    pruned, _ = prune_model(model, PruneConfig(1 - 20 / 5832, rounds=1,
                                               timing_hypotheses=2000))
    for name, net in model.networks().items():
        old, new = first_sparse_layer(net).mask, first_sparse_layer(pruned.network(name)).mask
        assert bool(((new > 0) <= (old > 0)).all())


def test_pruning_a_bundle_keeps_its_boundary_model_and_records_what_was_done(
        tiny_valve_model, tiny_detector, tmp_path):
    import torch

    source = load_bundle(tiny_valve_model)
    pruned, report = prune_bundle(tiny_valve_model, tmp_path / "p",
                                  PruneConfig(1 - 16 / 5832, rounds=1, timing_hypotheses=2000),
                                  data=tiny_detector[1], command="test prune")
    back = load_bundle(tmp_path / "p")
    assert back.boundary is not None and back.card.boundary == source.card.boundary
    for k, v in source.boundary.classifier.state_dict().items():
        assert torch.equal(back.boundary.classifier.state_dict()[k], v)
    entry = back.card.history[-1]
    assert entry.action == "pruned" and entry.command == "test prune"
    assert entry.parent == str(tiny_valve_model) and entry.parameters["rounds"] == 1
    assert report["fine_tuned"] is True and report["samples_config"] == "the card's"
    assert {"position_error_mean", "corner_error_mean"} <= set(report["validation_after"])
    assert set(_fan_ins(back.detector).values()) == {16}
    assert back.card.detector == source.card.detector  # how it was trained stays true


def test_fine_tuning_samples_follow_the_cards_training_configuration(tiny_detector, tmp_path,
                                                                     monkeypatch):
    """The bundled model was trained with fov_cut_share=0.3; pruning must draw its samples
    with that, not with TrainConfig()'s 0."""
    from dataclasses import replace

    import napari_msdl.training.prune as prune_module
    from napari_msdl.bundle import ValveModel
    from napari_msdl.training import TrainConfig

    seen = []
    monkeypatch.setattr(prune_module, "prune_model",
                        lambda model, config, data, train_config, progress:
                        seen.append(train_config) or (model, {"k": 1}))
    source = load_bundle(tiny_detector[0])
    config = replace(TrainConfig.from_dict(source.card.detector.config), fov_cut_share=0.3)
    card = replace(source.card, detector=replace(source.card.detector,
                                                 config=config.to_dict()))
    prune_bundle(ValveModel(source.detector, None, card), tmp_path / "p", PruneConfig(0.9))
    assert seen[0].fov_cut_share == 0.3


def test_prune_cli_writes_a_new_model_and_never_touches_the_input(tiny_detector, tmp_path,
                                                                  capsys):
    model_dir, _ = tiny_detector
    before = _digest(model_dir)
    out = tmp_path / "pruned"
    assert main(["prune", "--model", str(model_dir), "--out", str(out), "--sparsity", "0.998",
                 "--rounds", "1", "--quiet"]) == 0
    assert _digest(model_dir) == before
    assert set(_fan_ins(load_bundle(out).detector).values()) == {12}
    assert "active inputs before" in capsys.readouterr().out
    assert load_bundle(out).card.history[-1].parameters["rounds"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pruned"]  # nothing beside it
    assert main(["prune", "--model", str(model_dir), "--out", str(model_dir),
                 "--sparsity", "0.9"]) == 2


@pytest.mark.parametrize("sparsity", ["0", "1.5"])
def test_bad_sparsity_is_a_one_line_error(tiny_detector, tmp_path, sparsity, capsys):
    assert main(["prune", "--model", str(tiny_detector[0]), "--out", str(tmp_path / "p"),
                 "--sparsity", sparsity]) == 2
    assert "sparsity" in capsys.readouterr().err
