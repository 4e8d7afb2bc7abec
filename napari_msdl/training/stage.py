"""Training one marginal stage: the negative-filtering cascade, then the main classifier.

Seed Fig. 5: cascade level i is a shallow net (5832 sparse x 60 x 1) trained on the
samples the levels before it kept, with positives weighted up to balance the classes;
its logit threshold is the largest that keeps ``cascade_recall`` of the positives of the
training and of the validation samples. The main net (5832 sparse x 150 x 80 x 50 x 1)
trains on what the cascade keeps, negatives subsampled (seeded) to at most
``balance`` per positive. Sparse nets train with Algorithm 1
(:func:`napari_msdl.sparse.train_sadnn`), the dense baseline by its dense mode (as many
epochs in total, all weights, the best epoch by validation loss).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from napari_msdl._io import check_keys, check_number, check_whole
from napari_msdl._progress import Prefixed, ProgressCallback, report_figures
from napari_msdl.detector.cascade import StageNets, full_logits, recall_threshold
from napari_msdl.detector.model import network_name
from napari_msdl.sparse import (
    SADNN,
    SampleSet,
    SparseTrainingConfig,
    cascade_net_config,
    evaluate,
    main_net_config,
    train_sadnn,
)
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.training.store import SampleStore


def _default_cascade() -> SparseTrainingConfig:
    return SparseTrainingConfig(pretrain_epochs=2, rounds=5, epochs_per_round=2,
                                target_active_inputs=12, batch_size=512, lr=2e-3)


def _default_main() -> SparseTrainingConfig:
    return SparseTrainingConfig(pretrain_epochs=2, rounds=5, epochs_per_round=2,
                                target_active_inputs=24, batch_size=512, lr=2e-3)


@dataclass(frozen=True)
class StageTraining:
    """Per stage: cascade depth and recall, class balance, Algorithm 1 settings.

    ``bootstrap`` (stages trained with a miner): rounds in which the trained main net
    scans the training volumes, the far hypotheses it ranks highest join its negatives,
    and it is trained again (MSL's bootstrapping, aimed at the look-alikes detection
    would otherwise pick).

    ``input_eps``: the networks' patch normalisation divides by (std + ``input_eps``), in
    units of the feature volume's mean intensity. A tiny epsilon would blow a nearly
    empty patch (shadow, the edge of the field of view) up to full contrast, where it
    can look like anything; this keeps such patches faint."""

    cascade: SparseTrainingConfig = field(default_factory=_default_cascade)
    main: SparseTrainingConfig = field(default_factory=_default_main)
    cascade_levels: int = 1
    cascade_recall: float = 0.995
    balance: float = 5.0
    bootstrap: int = 1
    input_eps: float = 0.3

    def __post_init__(self) -> None:
        check_whole("stage.cascade_levels", self.cascade_levels, 0, 8)
        check_whole("stage.bootstrap", self.bootstrap, 0, 10)
        check_number("stage.cascade_recall", self.cascade_recall, 0.0, 1.0, low_open=True)
        check_number("stage.balance", self.balance, 0.0, 1000.0, low_open=True)
        check_number("stage.input_eps", self.input_eps, 0.0, None, low_open=True)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cascade": self.cascade.to_dict(), "main": self.main.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageTraining:
        d = dict(check_keys(d, [f.name for f in fields(cls)], "stage training"))
        for key in ("cascade", "main"):
            if key in d:
                d[key] = SparseTrainingConfig.from_dict(d[key])
        return cls(**d)


def network_line(name: str, fig: dict[str, Any]) -> str:
    """One network's training figures as a line of the stage report: a cascade level's
    positive recall and share of negatives rejected (training / validation samples), a
    main net's validation AUC, accuracy and inputs read ("" for other figures)."""
    if "threshold" in fig:
        tr, va = fig["train"], fig["validation"]
        return (f"{name:<22} keeps {tr['recall']:.1%} / {va['recall']:.1%} of the positives, "
                f"rejects {tr['rejected']:.1%} / {va['rejected']:.1%} of the negatives "
                "(train / validation)")
    if "validation" in fig:
        union = fig.get("union_inputs")
        auc = fig["validation"]["auc"]
        return (f"{name:<22} validation AUC " + ("-" if auc is None else f"{auc:.3f}")
                + f", accuracy {fig['validation']['accuracy']:.1%}"
                + (f", reads {union} of {N_INPUTS} inputs" if union else ""))
    return ""


def balanced_weights(y: np.ndarray) -> np.ndarray:
    """Per-sample weights giving positives and negatives equal total weight."""
    pos = max(1, int((y > 0.5).sum()))
    neg = max(1, int((y <= 0.5).sum()))
    return np.where(y > 0.5, 0.5 * len(y) / pos, 0.5 * len(y) / neg).astype(np.float32)


def fit(net: SADNN, train: SampleSet, val: SampleSet, config: SparseTrainingConfig,
        seed: int, progress: ProgressCallback, label: str) -> dict[str, Any]:
    """Train ``net`` in place by Algorithm 1 (its dense mode when the net is dense)."""
    history = train_sadnn(net, train, val, config, seed, Prefixed(progress, label))
    return {"best": history.best, "union_inputs": int(net.active_inputs().numel()),
            "curves": history.curves()}


FINE_TUNE = SparseTrainingConfig(pretrain_epochs=6, rounds=1, epochs_per_round=6,
                                 target_active_inputs=1, batch_size=256, lr=1e-3)
"""Fine-tuning a trained network: 12 epochs at a lower learning rate, its map kept (the
target fan-in is replaced by the network's own, :func:`kept_map`). 6 + 6 epochs measured
best of 3 + 3, 12 + 12, two rounds and a 3x learning rate on benchmarks/bench_adapt.py's
domain."""


def kept_map(net: SADNN, config: SparseTrainingConfig | None) -> SparseTrainingConfig:
    """``config`` (default :data:`FINE_TUNE`) with the network's current fan-in as the
    target, so that Algorithm 1 removes no weight: a fine-tuned network keeps its map."""
    from dataclasses import replace

    config = config or FINE_TUNE
    layers = net.sparse_layers
    if not layers:
        return config
    return replace(config, target_active_inputs=int(layers[0].n_active.max()))


def _rates(logits: np.ndarray, y: np.ndarray, thr: float) -> dict[str, float]:
    keep = logits >= thr
    pos, neg = y > 0.5, y <= 0.5
    return {"recall": float(keep[pos].mean()) if pos.any() else 1.0,
            "rejected": float((~keep[neg]).mean()) if neg.any() else 0.0}


def _kept_rates(alive: np.ndarray, y: np.ndarray) -> dict[str, float]:
    kept = np.zeros(len(y), dtype=np.float32)
    kept[alive] = 1.0
    return _rates(kept, y, 0.5)


Miner = Callable[[StageNets], tuple[np.ndarray, np.ndarray]]
"""Given trained nets (the cascade alone, as a StageNets whose main net is its last
level, or the cascade and main net), hard negatives (train features, validation
features) that they let through; called once per bootstrap round too."""


def _report_network(progress: ProgressCallback, name: str, fig: dict[str, Any]) -> None:
    report_figures(progress, name, {"report": network_line(name, fig)})


def train_stage(name: str, train: tuple[np.ndarray, np.ndarray],
                val: tuple[np.ndarray, np.ndarray], config: StageTraining, seed: int,
                dense: bool, progress: ProgressCallback, mine: Miner | None = None,
                init: StageNets | None = None,
                fine_tune: SparseTrainingConfig | None = None, store: SampleStore | None = None
                ) -> tuple[StageNets, dict[str, Any]]:
    """Train one stage's cascade and main net; returns them and the figures for the card.

    ``mine``, when given, adds hard negatives that the trained cascade passes (found on
    whole training volumes) to the main net's training and validation samples, and
    ``config.bootstrap`` times more: those the trained main net ranks highest.

    ``init`` (fine-tuning): every network starts from a copy of ``init``'s (its weights
    and its sparsity map, the same cascade depth) and trains by ``fine_tune``'s epochs with
    its map kept (no weight removed); the cascade thresholds are chosen again on the new
    samples.

    The sample subsets each network trains on (what the levels before it kept, the main
    net's balanced share with the hard negatives) are copied into ``store`` (default: in
    memory), so a run whose samples are on disk keeps them there.
    """
    store = store or SampleStore(None)
    (x, y), (xv, yv) = train, val
    for what, labels in (("training", y), ("validation", yv)):
        if not (labels > 0.5).any() or not (labels <= 0.5).any():
            raise ValueError(f"{name} stage: the {what} samples need positives and "
                             f"negatives, got {int((labels > 0.5).sum())} and "
                             f"{int((labels <= 0.5).sum())}")
    alive, alive_v = np.arange(len(y)), np.arange(len(yv))
    cascade, thresholds, levels = [], [], []
    n_levels = config.cascade_levels if init is None else len(init.cascade)
    for level in range(n_levels):
        if init is None:
            net = SADNN(cascade_net_config(dense=dense, eps=config.input_eps),
                        seed=seed + level)
        else:
            net = copy.deepcopy(init.cascade[level])
        ya = y[alive]
        tr = SampleSet(store.rows(x, alive), ya, balanced_weights(ya))
        va = SampleSet(store.rows(xv, alive_v), yv[alive_v], balanced_weights(yv[alive_v]))
        fig = fit(net, tr, va, kept_map(net, fine_tune) if init else config.cascade,
                  seed + level, progress, network_name(name, level + 1))
        lt, lv = full_logits(net, tr.x), full_logits(net, va.x)
        thr = min(recall_threshold(lt[ya > 0.5], config.cascade_recall),
                  recall_threshold(lv[va.y.numpy() > 0.5], config.cascade_recall))
        fig.update(threshold=thr, train=_rates(lt, ya, thr),
                   validation=_rates(lv, yv[alive_v], thr))
        alive, alive_v = alive[lt >= thr], alive_v[lv >= thr]
        fig["cumulative"] = {"train": _kept_rates(alive, y),
                             "validation": _kept_rates(alive_v, yv)}
        cascade.append(net)
        thresholds.append(thr)
        levels.append(fig)
        _report_network(progress, network_name(name, level + 1), fig)

    rng = np.random.default_rng(seed)
    pos, neg = alive[y[alive] > 0.5], alive[y[alive] <= 0.5]
    hard, hard_v = (mine(StageNets(cascade, thresholds, cascade[-1])) if mine
                    else (x[:0], xv[:0]))
    n_neg = min(len(neg), max(len(pos), int(config.balance * len(pos)) - len(hard)))
    keep = np.sort(np.concatenate([pos, rng.choice(neg, n_neg, replace=False)]))

    def fit_main(hard: np.ndarray, hard_v: np.ndarray, label: str) -> tuple[SADNN, dict]:
        main = (SADNN(main_net_config(dense=dense, eps=config.input_eps), seed=seed + 50)
                if init is None else copy.deepcopy(init.main))
        ym = np.concatenate([y[keep], np.zeros(len(hard), np.float32)])
        yvm = np.concatenate([yv[alive_v], np.zeros(len(hard_v), np.float32)])
        tr = SampleSet(store.joined([(x, keep), hard]), ym, balanced_weights(ym))
        va = SampleSet(store.joined([(xv, alive_v), hard_v]), yvm, balanced_weights(yvm))
        fig = fit(main, tr, va, kept_map(main, fine_tune) if init else config.main,
                  seed + 50, progress, label)
        fig["validation"] = evaluate(main, va)
        fig["samples"] = {"train": len(ym), "validation": len(yvm),
                          "hard_negatives": len(hard), "hard_negatives_validation": len(hard_v)}
        _report_network(progress, network_name(name), fig)
        return main, fig

    main, fig = fit_main(hard, hard_v, network_name(name))
    rounds = []
    for round_ in range(1, 1 + (config.bootstrap if mine else 0)):
        more, more_v = mine(StageNets(cascade, thresholds, main))
        hard, hard_v = store.joined([hard, more]), store.joined([hard_v, more_v])
        rounds.append({k: fig[k] for k in ("validation", "samples")})
        main, fig = fit_main(hard, hard_v, f"{network_name(name)} (bootstrap {round_})")
    if rounds:
        fig["bootstrap"] = rounds
    for net in (*cascade, main):
        net.eval()
    figures = {"samples": {"train_positives": int((y > 0.5).sum()),
                           "train_negatives": int((y <= 0.5).sum()),
                           "val_positives": int((yv > 0.5).sum()),
                           "val_negatives": int((yv <= 0.5).sum())},
               "cascade": levels, "main": fig}
    return StageNets(cascade, thresholds, main), figures
