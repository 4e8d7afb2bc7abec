"""A tiny detector trained here on a handful of small phantoms finds a held-out one."""

import json

import pytest

from napari_msdl._progress import STEP, Cancelled
from napari_msdl.bundle import MANIFEST, load_bundle
from napari_msdl.dataset import create_dataset, put_case
from napari_msdl.detector import detect
from napari_msdl.geometry import corner_error, position_error
from napari_msdl.phantoms import make_phantom
from napari_msdl.training import (
    TrainConfig,
    stage_report,
    tiny_config,
    train_bundle,
    train_detector,
)
from napari_msdl.training.store import SCRATCH_PREFIX
from napari_msdl.training.train import DETECTOR_STEPS

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
    model = train_bundle(ds, root / "model", tiny_config(val_ids=("c9",)), seed=0,
                         progress=lambda s, d, t: calls.append((s, d, t)), command="test")
    return root, model, calls


def test_tiny_model_detects_a_held_out_phantom(trained):
    root, _, _ = trained
    case = make_phantom(2000, shape=SHAPE, spacing=1.0)
    det = detect(case.volume, load_bundle(root / "model").detector, device="cpu")
    assert position_error(det.pose, case.pose) < 10.0
    assert corner_error(det.pose, case.pose) < 15.0


def test_card_and_progress(trained):
    root, model, calls = trained
    assert model.boundary is None  # the dataset has no meshes
    card = json.loads((root / "model" / MANIFEST).read_text())["card"]
    record = card["detector"]
    assert record["seed"] == 0 and record["command"] == "test" and card["boundary"] is None
    assert record["data"]["val_ids"] == ["c9"] and record["data"]["train_cases"] == 9
    assert TrainConfig.from_dict(record["config"]) == tiny_config(val_ids=("c9",))
    networks = record["figures"]["networks"]
    for stage in ("position", "orientation", "scale"):
        level = networks[f"{stage}.cascade1"]
        assert level["train"]["recall"] >= 0.99
        assert 0.0 <= level["validation"]["rejected"] <= 1.0
        assert 0.0 < record["figures"]["sparsity"][f"{stage}.main"] < 1.0
    assert record["seconds"] > 0
    assert {"position_error", "corner_error"} <= set(record["figures"]["validation"])
    assert "validation_verified" not in record["figures"]  # no boundary model to verify with
    stages = [s for s, _, _ in calls]
    assert any(c.startswith("position.cascade1") for c in stages)
    assert any(c.startswith("scale.main") for c in stages)
    # one bar over the whole job: the steps 0..6 in order, the last after every other report
    steps = [(d, t) for s, d, t in calls if s == STEP]
    assert steps == [(k, DETECTOR_STEPS) for k in range(DETECTOR_STEPS + 1)]
    assert calls[-1] == (STEP, DETECTOR_STEPS, DETECTOR_STEPS)


def test_stage_report_gives_every_cascade_level_and_main_net(trained):
    _, model, _ = trained
    text = stage_report(model.card.detector)
    networks = model.card.detector.figures["networks"]
    for stage in ("position", "orientation", "scale"):
        level = networks[f"{stage}.cascade1"]
        assert (f"{stage + '.cascade1':<22} keeps {level['train']['recall']:.1%} / "
                f"{level['validation']['recall']:.1%}") in text
        assert f"{stage + '.main':<22} validation AUC" in text
    assert len(text.splitlines()) == 6  # one cascade level and a main net per stage


def test_training_refuses_too_few_cases_before_any_work(tmp_path):
    ds = create_dataset(tmp_path / "d")
    case = make_phantom(1000, shape=SHAPE, spacing=1.0)
    put_case(ds, "only", case.volume, case.pose)
    with pytest.raises(ValueError, match="at least 2 annotated"):
        train_bundle(ds, tmp_path / "m", tiny_config())
    assert not (tmp_path / "m").exists()


def _weights(model) -> list:
    return [(name, nets.thresholds, [v.clone() for net in (*nets.cascade, nets.main)
                                     for v in net.state_dict().values()])
            for name, nets in model.stages.items()]


def test_samples_on_disk_train_the_model_samples_in_memory_train(tmp_path):
    ds = create_dataset(tmp_path / "data")
    for i in range(4):
        case = make_phantom(1100 + i, shape=(48, 48, 36), spacing=1.2)
        put_case(ds, f"c{i}", case.volume, case.pose)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    seen = []

    def progress(stage, done, total):
        seen.extend(p.name for p in scratch.iterdir())

    config = tiny_config(val_ids=("c3",), hard_negatives=4, confusers=2)
    on_disk, _ = train_detector(ds, config, seed=0, progress=progress, scratch=scratch)
    in_memory, _ = train_detector(ds, config, seed=0, scratch=None)
    assert seen and all(name.startswith(SCRATCH_PREFIX) for name in seen)
    assert list(scratch.iterdir()) == []  # the store's folder is gone
    for (name, thr, weights), (_, thr_m, weights_m) in zip(_weights(on_disk),
                                                            _weights(in_memory), strict=True):
        assert thr == thr_m, name
        assert all(bool((a == b).all()) for a, b in zip(weights, weights_m, strict=True)), name

    def cancel(stage, done, total):
        if stage.startswith("orientation"):
            raise Cancelled
    with pytest.raises(Cancelled):
        train_detector(ds, config, seed=0, progress=cancel, scratch=scratch)
    assert list(scratch.iterdir()) == []
