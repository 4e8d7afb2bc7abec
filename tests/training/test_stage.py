"""train_stage: cascade, main net, and bootstrapping with the main net's false positives."""

from __future__ import annotations

import numpy as np

from napari_msdl.sparse import SparseTrainingConfig
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.training.stage import StageTraining, train_stage


def _samples(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Positives bright on the first 50 inputs, negatives not."""
    y = (rng.random(n) < 0.3).astype(np.float32)
    x = rng.normal(size=(n, N_INPUTS)).astype(np.float32)
    x[:, :50] += 2.0 * y[:, None]
    return x, y


def _config(bootstrap: int) -> StageTraining:
    sparse = SparseTrainingConfig(pretrain_epochs=1, rounds=1, epochs_per_round=1,
                                  target_active_inputs=20, batch_size=128, lr=3e-3)
    return StageTraining(cascade=sparse, main=sparse, cascade_levels=1, bootstrap=bootstrap)


def test_bootstrap_mines_with_the_trained_main_net_and_adds_its_negatives():
    rng = np.random.default_rng(0)
    train, val = _samples(rng, 300), _samples(rng, 120)
    calls = []

    def mine(nets):
        calls.append(nets.main is nets.cascade[-1])
        k = 7 * len(calls)
        return (rng.normal(size=(k, N_INPUTS)).astype(np.float32),
                rng.normal(size=(k // 7, N_INPUTS)).astype(np.float32))

    nets, fig = train_stage("position", train, val, _config(bootstrap=1), 0, False,
                            lambda *a: None, mine)
    assert calls == [True, False]  # first the cascade alone, then cascade + main net
    assert fig["main"]["samples"]["hard_negatives"] == 7 + 14
    assert fig["main"]["samples"]["hard_negatives_validation"] == 1 + 2
    assert fig["main"]["bootstrap"][0]["samples"]["hard_negatives"] == 7
    assert nets.main is not nets.cascade[-1]


def test_without_a_miner_there_is_no_bootstrap_round():
    rng = np.random.default_rng(1)
    _, fig = train_stage("scale", _samples(rng, 200), _samples(rng, 80), _config(bootstrap=2),
                         0, False, lambda *a: None)
    assert "bootstrap" not in fig["main"]
    assert fig["main"]["samples"]["hard_negatives"] == 0
