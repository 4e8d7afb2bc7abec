"""A training request (the Train widget's form) is checked whole before any work and
turned into the configurations it asks for."""

import pytest

from napari_msdl.training.request import BUNDLED, TrainingRequest, run_training


@pytest.mark.parametrize("field, value, message", [
    ("epochs", 0, "epochs"), ("rounds", 21, "rounds"), ("inputs_per_filter", 1, "inputs"),
    ("fov_cut", 1.5, "field-of-view"), ("copies", 201, "copies"), ("seed", -1, "seed")])
def test_a_request_out_of_bounds_is_refused(tmp_path, field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainingRequest(dataset=tmp_path, out=tmp_path / "m", **{field: value})


def test_from_scratch_the_main_nets_read_the_inputs_asked_and_the_cascades_half(
        tiny_detector, tmp_path):
    from napari_msdl.dataset import Dataset

    request = TrainingRequest(dataset=tiny_detector[1], out=tmp_path / "m", start=None,
                              epochs=2, rounds=4, inputs_per_filter=30, fov_cut=0.2,
                              copies=3)
    config, _ = request.configs(None, Dataset.open(tiny_detector[1]))
    assert config.stage.main.target_active_inputs == 30
    assert config.stage.cascade.target_active_inputs == 15
    assert config.stage.main.rounds == 4 and config.stage.main.epochs_per_round == 2
    assert config.fov_cut_share == 0.2 and config.augment.copies == 3


def test_a_fine_tune_trains_the_epochs_asked_with_enough_copies(tiny_detector, tmp_path):
    from napari_msdl.bundle import load_bundle
    from napari_msdl.dataset import Dataset

    parent = load_bundle(tiny_detector[0])
    request = TrainingRequest(dataset=tiny_detector[1], out=tmp_path / "m",
                              start=tiny_detector[0], epochs=4, rounds=2)
    config, fine_tune = request.configs(parent, Dataset.open(tiny_detector[1]))
    assert (fine_tune.pretrain_epochs, fine_tune.epochs_per_round, fine_tune.rounds) == (4, 4, 2)
    assert config.search == parent.detector.search
    assert 0 < config.augment.copies <= 20  # ten cases: copies up to about 80 in all


def test_a_model_inside_the_dataset_is_refused_before_any_work(tiny_detector):
    data = tiny_detector[1]
    before = sorted(p.name for p in data.iterdir())
    with pytest.raises(ValueError, match="inside"):
        run_training(TrainingRequest(dataset=data, out=data / "model", start=BUNDLED))
    assert sorted(p.name for p in data.iterdir()) == before
