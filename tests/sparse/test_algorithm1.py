"""Algorithm 1: the sparsify step, the schedule, and the training driver on a known task."""

import json
import math

import numpy as np
import pytest
import torch

from napari_msdl._progress import Cancelled
from napari_msdl.sparse import (
    SADNN,
    NetworkConfig,
    SampleSet,
    SparseHistory,
    SparseLinear,
    SparseTrainingConfig,
    active_schedule,
    sparsify_step,
    train_sadnn,
)

SIGNAL = [3, 17, 30, 42, 58]  # the only inputs (of 64) that carry the label


def _task(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 64, generator=g)
    v = torch.tensor([1.0, -1.0, 1.0, 1.0, -1.0])
    y = (x[:, SIGNAL] @ v + 0.3 * torch.randn(n, generator=g) > 0).float()
    return x, y


CONFIG = SparseTrainingConfig(pretrain_epochs=3, rounds=5, epochs_per_round=2,
                              target_active_inputs=4, lr=3e-3, batch_size=64)


def _run(seed: int = 0, progress=None) -> tuple[SADNN, SparseHistory]:
    model = SADNN(NetworkConfig(n_inputs=64, hidden=(8,)), seed=seed)
    x, y = _task(2000, seed=1)
    history = train_sadnn(model, (x[:1500], y[:1500]), SampleSet(x[1500:], y[1500:]),
                          CONFIG, seed=seed, progress=progress)
    return model, history


@pytest.fixture(scope="module")
def trained():
    masks, stages = [], []

    def progress(stage, done, total):
        stages.append((stage, done, total))
        masks.append((model_ref[0].first.mask.clone(), model_ref[0].first.weight.detach().clone()))

    model_ref = [SADNN(NetworkConfig(n_inputs=64, hidden=(8,)), seed=0)]
    x, y = _task(2000, seed=1)
    history = train_sadnn(model_ref[0], (x[:1500], y[:1500]), (x[1500:], y[1500:]), CONFIG,
                          seed=0, progress=progress)
    return model_ref[0], history, masks, stages


def test_sparsify_step_removes_the_smallest_and_keeps_the_l1_norm():
    layer = SparseLinear(10, 2, seed=0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9, -1.0],
                                         [5.0, 0.0, -0.01, 1.0, 2.0, -3.0, 0.5, 0.2, 4.0, 1.0]]))
    bias = layer.bias.detach().clone()
    stats = sparsify_step(layer, 0.3)
    assert stats.removed.tolist() == [3, 3] and layer.n_active.tolist() == [7, 7]
    assert layer.mask[0, :3].sum() == 0 and layer.mask[0, 3:].sum() == 7
    assert layer.mask[1, [1, 2, 7]].sum() == 0
    l1 = layer.weight.detach().double().abs().sum(1)
    np.testing.assert_allclose(l1.numpy(), [5.5, 16.71], rtol=1e-6)
    assert stats.max_l1_rel_error < 1e-6
    assert torch.equal(layer.bias, bias)  # step 10: biases are kept


def test_sparsify_step_never_removes_the_last_weight():
    layer = SparseLinear(6, 3, seed=1)
    for _ in range(10):
        sparsify_step(layer, 0.99)
    assert layer.n_active.tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="fraction"):
        sparsify_step(layer, 1.0)


def test_repeated_steps_only_lose_ones_and_keep_l1_on_the_full_grid():
    layer = SparseLinear(5832, 12, seed=2)
    prev = layer.mask.clone()
    for frac in (0.6, 0.45, 0.3, 0.2, 0.1):
        l1_before = (layer.weight.detach().double() * prev).abs().sum(1)
        stats = sparsify_step(layer, frac)
        assert torch.all(layer.mask <= prev)
        l1_after = layer.weight.detach().double().abs().sum(1)
        assert torch.all((l1_after - l1_before).abs() / l1_before < 1e-5)
        assert stats.max_l1_rel_error < 1e-5
        prev = layer.mask.clone()


def test_schedule_hits_the_target_with_falling_fractions():
    counts = active_schedule(5832, 117, rounds=8, decay=0.75)
    assert counts[-1] == 117 and all(a >= b for a, b in zip([5832, *counts], counts, strict=False))
    prev = [5832, *counts[:-1]]
    fractions = [1 - c / p for c, p in zip(counts, prev, strict=True)]
    assert all(a > b for a, b in zip(fractions, fractions[1:], strict=False))
    assert active_schedule(100, 100, 3) == [100, 100, 100]
    with pytest.raises(ValueError, match="target"):
        active_schedule(10, 0, 3)


def test_driver_reaches_the_target(trained):
    model, history, _, _ = trained
    assert model.first.n_active.tolist() == [4] * 8
    assert [r.active_per_filter["max"] for r in history.rounds][-1] == 4
    assert history.rounds[-1].sparsity["first"] == pytest.approx(1 - 4 / 64)
    assert history.best["round"] == CONFIG.rounds
    assert all(r.max_l1_rel_error < 1e-5 for r in history.rounds)


def test_mask_only_loses_ones_and_masked_weights_stay_zero(trained):
    _, _, masks, _ = trained
    for (m0, _), (m1, w1) in zip(masks, masks[1:], strict=False):
        assert torch.all(m1 <= m0)
        assert torch.all(w1[m1 == 0] == 0)


def test_surviving_inputs_are_the_signal(trained):
    model, history, _, _ = trained
    counts = model.first.usage_counts().ravel()
    assert counts[SIGNAL].sum() / counts.sum() >= 0.8
    assert history.rounds[-1].val["auc"] > 0.9


def test_progress_reports_every_epoch(trained):
    _, _, _, stages = trained
    names = [s for s, _, _ in stages]
    assert names[0] == "pretrain" and f"round {CONFIG.rounds}/{CONFIG.rounds}" in names
    n_batches = 1500 // CONFIG.batch_size + 1
    pretrain_done = {d for s, d, _ in stages if s == "pretrain"}
    assert {n_batches * e for e in range(1, CONFIG.pretrain_epochs + 1)} <= pretrain_done
    for t in range(1, CONFIG.rounds + 1):
        done = {d for s, d, _ in stages if s == f"round {t}/{CONFIG.rounds}"}
        assert {n_batches * e for e in range(CONFIG.epochs_per_round + 1)} <= done


def test_history_round_trips_through_json(trained):
    _, history, _, _ = trained
    doc = json.loads(json.dumps(history.to_dict()))
    again = SparseHistory.from_dict(doc)
    assert again.to_dict() == history.to_dict()
    assert len(history.curves()["sparsity"]) == CONFIG.rounds
    with pytest.raises(ValueError, match="version"):
        SparseHistory.from_dict({**doc, "version": 0})


def test_deterministic_with_a_seed(trained):
    model, history, _, _ = trained
    again, history2 = _run(seed=0)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    assert [r.val for r in history.rounds] == [r.val for r in history2.rounds]


def test_cancel_stops_the_run():
    def cancel(stage, done, total):
        if stage.startswith("round 2"):
            raise Cancelled

    with pytest.raises(Cancelled):
        _run(progress=cancel)


def test_config_round_trip_and_validation():
    cfg = SparseTrainingConfig(rounds=3, target_sparsity=0.98)
    assert SparseTrainingConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.target_for(5832) == round(0.02 * 5832)
    assert SparseTrainingConfig(target_active_inputs=7).target_for(5832) == 7
    with pytest.raises(ValueError, match="target_sparsity"):
        SparseTrainingConfig(target_sparsity=1.0)
    with pytest.raises(ValueError, match="unknown Algorithm 1 configuration keys"):
        SparseTrainingConfig.from_dict({**cfg.to_dict(), "momentum": 0.9})
    assert math.isfinite(cfg.lr)


def test_the_dense_mode_trains_every_weight_and_keeps_the_best_epoch():
    """The dense baseline's training: the schedule's epochs, all weights, best by validation."""
    from napari_msdl.sparse import evaluate

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float32)
    net = SADNN(NetworkConfig(n_inputs=8, hidden=(6,), dense=True), seed=1)
    before = net.first.weight.detach().clone()
    cfg = SparseTrainingConfig(pretrain_epochs=2, rounds=2, epochs_per_round=3, lr=1e-2,
                               batch_size=64)
    history = train_sadnn(net, (x[:300], y[:300]), (x[300:], y[300:]), cfg, seed=0)
    assert [e.epoch for e in history.pretrain] == list(range(1, 9)) and not history.rounds
    losses = [e.val["loss"] for e in history.pretrain]
    assert history.best["epoch"] == 1 + int(np.argmin(losses))
    assert history.best["val_loss"] == min(losses)
    from napari_msdl.sparse import SampleSet

    assert evaluate(net, SampleSet(x[300:], y[300:]))["loss"] == pytest.approx(min(losses))
    assert bool((net.first.weight != before).all())  # every weight trained, none masked
    again = SADNN(NetworkConfig(n_inputs=8, hidden=(6,), dense=True), seed=1)
    train_sadnn(again, (x[:300], y[:300]), (x[300:], y[300:]), cfg, seed=0)
    assert torch.equal(again.first.weight, net.first.weight)  # seeded
