"""The model card: one label scheme, exact round trips, the training configuration restored."""

import pytest

from napari_msdl.bundle import HistoryEntry, ModelCard, TrainingRecord, load_bundle
from napari_msdl.detector import network_name, parse_network_name
from napari_msdl.training import BoundaryConfig, TrainConfig, tiny_config


def test_card_round_trips_through_json():
    import json

    card = ModelCard(detector=TrainingRecord(command="c", seed=2, data={"n": 1},
                                             config={"a": [1, 2]}, seconds=3.5,
                                             figures={"x": {"y": None}}),
                     boundary=None,
                     history=(HistoryEntry("pruned", parent="/m", parameters={"s": 0.9}),))
    assert ModelCard.from_dict(json.loads(json.dumps(card.to_dict()))) == card
    assert card.with_history(HistoryEntry("converted")).history[-1].action == "converted"


@pytest.mark.parametrize("doc, message", [
    ({"detector": {}, "colour": 1}, "unknown model card keys"),
    ({"detector": {"seed": "three"}}, "seed"),
    ({"detector": {"figures": []}}, "figures"),
    ({"history": [{"action": "painted"}]}, "history action"),
    ({"history": {}}, "history must be a list"),
    ({"version": 2}, "card version 2"),
])
def test_bad_cards_are_refused(doc, message):
    with pytest.raises(ValueError, match=message):
        ModelCard.from_dict(doc)


def test_network_names_are_one_scheme():
    assert network_name("position", 1) == "position.cascade1"
    assert network_name("scale") == "scale.main"
    for name in ("position.cascade2", "orientation.main"):
        assert network_name(*parse_network_name(name)) == name
    for bad in ("position.cascade0", "position cascade 1", "shape.main", "scale.cascade"):
        with pytest.raises(ValueError):
            parse_network_name(bad)


def test_the_bundled_card_restores_its_training_configuration_exactly():
    model = load_bundle()
    config = TrainConfig.from_dict(model.card.detector.config)
    assert config.fov_cut_share == 0.3 and config.position_cascade_levels == 2
    written = config.to_dict()

    def as_in(card, new):  # the keys the card has (settings added since take defaults)
        return {k: as_in(v, new[k]) if isinstance(v, dict) else new[k]
                for k, v in card.items()}
    assert as_in(model.card.detector.config, written) == model.card.detector.config
    assert {"position_pool", "modes", "mode_refine"} <= set(written["search"]) - set(
        model.card.detector.config["search"])
    assert written["augment"]["copies"] == 0, "a card from before augmentation trained without"
    assert TrainConfig.from_dict(written) == config
    boundary = BoundaryConfig.from_dict(model.card.boundary.config)
    assert boundary.to_dict() == model.card.boundary.config
    names = list(model.detector.networks())
    assert list(model.card.detector.figures["networks"]) == names
    assert list(model.card.detector.figures["sparsity"]) == names


def test_train_config_round_trip_and_refusals():
    config = tiny_config(val_ids=("a", "b"), fov_cut_share=0.25)
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown training configuration keys"):
        TrainConfig.from_dict({**config.to_dict(), "epochs": 3})
    for change, message in (({"shifts": 0}, "shifts"), ({"fov_cut_share": 1.5}, "fov_cut"),
                            ({"val_fraction": 1.0}, "val_fraction"),
                            ({"val_ids": ()}, "val_ids"), ({"val_ids": ("../x",)}, "case id")):
        with pytest.raises(ValueError, match=message):
            TrainConfig(**change)
