"""Algorithm 1 of Ghesu et al.: learning with iterative threshold-enforced sparsity, and
the one training loop of the package (its dense mode trains the dense baseline).

1. pre-train with all weights (a few epochs);  2. sparsity map = all ones;
for t = 1..T:  6-8. per filter of every sparse layer, remove the smallest active weights
(by |w|) and rescale the remaining active ones so the filter's L1 norm is what it was
before the round (:func:`sparsify_step`);  10. keep the biases (the step never touches
them);  11. train a few epochs on the active weights only.  14-15. the result is the
sparse kernels and biases of round T.

The removal fractions fall exponentially from round to round (``decay``; the seed:
"in later stages of the training exponentially less filter weights are set to zero")
and are solved so that after round T every filter has exactly the target number of
active inputs (:func:`active_schedule`). Masked weights stay exactly zero: the forward
pass uses ``weight * mask`` and, after every optimiser step, ``apply_mask_(optimizer)``
zeroes the masked raw weights, gradients and Adam moments. Pre-training and every
round each train with a fresh Adam; the seed drives the batch order (the weights were
seeded when the network was built), so a run is repeatable. Only round T reaches the
target, so the model returned is the best state by validation loss among the
evaluations of round T (right after its sparsify step and after each of its epochs).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields

import numpy as np
import torch
from torch import nn

from napari_msdl._io import check_keys, check_number, check_whole, dataclass_from_dict
from napari_msdl._progress import no_progress, report_figures
from napari_msdl.sparse.layers import SparseLinear

HISTORY_VERSION = 1


@dataclass
class EpochRecord:
    """One epoch: mean train loss (None before any training) and validation metrics."""

    epoch: int
    train_loss: float | None
    val: dict | None = None


@dataclass
class RoundRecord:
    """One round t of Algorithm 1, measured after its training epochs."""

    round: int
    removal_fraction: float
    sparsity: dict[str, float]
    active_per_filter: dict[str, float]
    union_inputs: int
    train_loss: float | None
    val: dict | None
    max_l1_rel_error: float
    seconds: float
    epochs: list[EpochRecord] = field(default_factory=list)


@dataclass
class SparseHistory:
    """What a :func:`train_sadnn` run did; JSON-able through ``to_dict`` / ``from_dict``."""

    config: dict
    seed: int
    pretrain: list[EpochRecord] = field(default_factory=list)
    rounds: list[RoundRecord] = field(default_factory=list)
    best: dict | None = None

    def to_dict(self) -> dict:
        return {"version": HISTORY_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict) -> SparseHistory:
        check_keys(d, ["version", *(f.name for f in fields(cls))], "sparse history")
        if d.get("version") != HISTORY_VERSION:
            raise ValueError(f"sparse history version {d.get('version')!r} is not supported "
                             f"(expected {HISTORY_VERSION})")
        rounds = [RoundRecord(**{**r, "epochs": [EpochRecord(**e) for e in r["epochs"]]})
                  for r in d["rounds"]]
        return cls(config=d["config"], seed=d["seed"],
                   pretrain=[EpochRecord(**e) for e in d["pretrain"]], rounds=rounds,
                   best=d["best"])

    def curves(self) -> dict[str, list]:
        """Per round: sparsity of the first sparse layer, train and validation loss."""
        return {"round": [r.round for r in self.rounds],
                "sparsity": [next(iter(r.sparsity.values())) for r in self.rounds],
                "active_mean": [r.active_per_filter["mean"] for r in self.rounds],
                "train_loss": [r.train_loss for r in self.rounds],
                "val_loss": [None if r.val is None else r.val["loss"] for r in self.rounds]}


@dataclass(frozen=True)
class SparsifyStats:
    """What one :func:`sparsify_step` did, per filter."""

    removed: np.ndarray  # (out,) weights removed this step
    n_active: np.ndarray  # (out,) active weights after the step
    l1_before: np.ndarray  # (out,) filter L1 norm before the step
    l1_after: np.ndarray  # (out,) filter L1 norm after the rescale
    scale: np.ndarray  # (out,) factor applied to the surviving weights

    @property
    def max_l1_rel_error(self) -> float:
        denom = np.maximum(self.l1_before, np.finfo(np.float64).tiny)
        return float(np.max(np.abs(self.l1_after - self.l1_before) / denom))


@torch.no_grad()
def sparsify_step(layer: SparseLinear, fraction: float) -> SparsifyStats:
    """Steps 6-8 for every filter (row) of ``layer``.

    Removes ``floor(fraction * n_active + 1/2)`` of each filter's active weights, those
    of smallest |w| (ties: lower input index first), never its last active weight, then
    multiplies the survivors by ``L1_before / L1_after`` (computed in float64). The bias
    is untouched (step 10).
    """
    if not isinstance(layer, SparseLinear):
        raise TypeError(f"sparsify_step needs a SparseLinear, received {type(layer).__name__}")
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), received {fraction}")
    w = layer.weight.detach().to(torch.float64)
    active = layer.mask > 0.5
    n_active = active.sum(dim=1)
    n_remove = torch.floor(fraction * n_active + 0.5 + 1e-9).to(torch.int64)
    n_remove = torch.minimum(n_remove, (n_active - 1).clamp(min=0))
    key = torch.where(active, w.abs(), torch.full_like(w, math.inf))
    order = torch.argsort(key, dim=1, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(w.shape[1]).expand_as(order).contiguous())
    keep = active & (rank >= n_remove[:, None])
    l1_before = (w.abs() * active).sum(dim=1)
    l1_kept = (w.abs() * keep).sum(dim=1)
    scale = torch.where(l1_kept > 0, l1_before / l1_kept.clamp(min=1e-300),
                        torch.ones_like(l1_kept))
    new_w = (w * keep * scale[:, None]).to(layer.weight.dtype)
    layer.weight.copy_(new_w)
    layer.mask.copy_(keep.to(layer.mask.dtype))
    l1_after = (layer.weight.detach().to(torch.float64).abs() * keep).sum(dim=1)
    return SparsifyStats(n_remove.numpy(), keep.sum(dim=1).numpy(), l1_before.numpy(),
                         l1_after.numpy(), scale.numpy())


def active_schedule(n_start: int, n_target: int, rounds: int, decay: float = 0.75,
                    ) -> list[int]:
    """Active weights per filter after each round 1..T, ending exactly at ``n_target``.

    Round t removes the fraction ``f_t = f_1 * decay**(t-1)`` of the active weights;
    ``f_1`` is solved so that ``prod(1 - f_t) = n_target / n_start``, and the counts are
    rounded (non-increasing, last one exact).
    """
    if not 1 <= n_target <= n_start:
        raise ValueError(f"target must be in [1, {n_start}] active inputs, received {n_target}")
    if rounds < 1 or not 0.0 < decay <= 1.0:
        raise ValueError(f"rounds must be >= 1 and decay in (0, 1], received {rounds}, {decay}")
    goal = math.log(n_target / n_start)

    def log_kept(f1: float) -> float:
        return sum(math.log1p(-f1 * decay**t) for t in range(rounds))

    lo, hi = 0.0, 1.0 - 1e-12
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if log_kept(mid) > goal else (lo, mid)
    f1 = 0.5 * (lo + hi)
    counts, kept = [], float(n_start)
    for t in range(rounds):
        kept *= 1.0 - f1 * decay**t
        prev = counts[-1] if counts else n_start
        counts.append(int(min(prev, max(n_target, round(kept)))))
    counts[-1] = n_target
    return counts


@dataclass(frozen=True)
class SparseTrainingConfig:
    """Algorithm 1's knobs. The target is per filter: ``target_active_inputs`` (fan-in)
    when given, else ``round((1 - target_sparsity) * n_inputs)``."""

    pretrain_epochs: int = 3
    rounds: int = 8
    epochs_per_round: int = 2
    target_sparsity: float = 0.95
    target_active_inputs: int | None = None
    decay: float = 0.75
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 0.0
    optimizer: str = "adam"

    def __post_init__(self) -> None:
        check_whole("pretrain_epochs", self.pretrain_epochs, 0, 1000)
        check_whole("rounds", self.rounds, 1, 100)
        check_whole("epochs_per_round", self.epochs_per_round, 0, 1000)
        check_number("target_sparsity", self.target_sparsity, 0.0, 1.0, high_open=True)
        if self.target_active_inputs is not None:
            check_whole("target_active_inputs", self.target_active_inputs, 1, 100_000)
        check_number("decay", self.decay, 0.0, 1.0, low_open=True)
        check_number("lr", self.lr, 0.0, 10.0, low_open=True)
        check_whole("batch_size", self.batch_size, 1, 1_000_000)
        check_number("weight_decay", self.weight_decay, 0.0, 10.0)
        if self.optimizer != "adam":
            raise ValueError(f"optimizer must be 'adam', received {self.optimizer!r}")

    def target_for(self, n_inputs: int) -> int:
        if self.target_active_inputs is not None:
            return int(self.target_active_inputs)
        return max(1, round((1.0 - self.target_sparsity) * n_inputs))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SparseTrainingConfig:
        return dataclass_from_dict(cls, d, "Algorithm 1 configuration")


@dataclass
class SampleSet:
    """Training or validation patches: x (N, F) float32 (or float16, kept as such to
    halve the memory of large sample sets; the networks compute in float32), labels y
    (N,) in {0, 1}, and optional sample weights (N,) for the loss. A numpy ``x`` is used
    without a copy (a memory-mapped one stays on disk, read batch by batch)."""

    x: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor | None = field(default=None)

    def __post_init__(self) -> None:
        half = getattr(self.x, "dtype", None) in (np.float16, torch.float16)
        self.x = torch.as_tensor(self.x, dtype=torch.float16 if half else torch.float32)
        self.y = torch.as_tensor(self.y, dtype=torch.float32).reshape(-1)
        if self.x.ndim != 2 or self.x.shape[0] != self.y.shape[0] or self.x.shape[0] == 0:
            raise ValueError(f"x must be (N, F) and y (N,) with N >= 1, received "
                             f"{tuple(self.x.shape)} and {tuple(self.y.shape)}")
        if self.weight is not None:
            self.weight = torch.as_tensor(self.weight, dtype=torch.float32).reshape(-1)
            if self.weight.shape != self.y.shape:
                raise ValueError(f"weight must be (N,)={tuple(self.y.shape)}, received "
                                 f"{tuple(self.weight.shape)}")
        step = 8192  # checked in blocks: a memory-mapped x is never read whole at once
        if not all(bool(torch.isfinite(self.x[i:i + step]).all())
                   for i in range(0, len(self.x), step)):
            raise ValueError("x holds NaN or infinite values")

    @classmethod
    def coerce(cls, data: SampleSet | tuple) -> SampleSet:
        """A SampleSet from itself or an (x, y) / (x, y, weight) tuple."""
        return data if isinstance(data, SampleSet) else cls(*data)

    def __len__(self) -> int:
        return int(self.y.shape[0])


def _loss(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None) -> torch.Tensor:
    per = nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    return per.mean() if w is None else (per * w).sum() / w.sum().clamp(min=1e-12)


@torch.no_grad()
def evaluate(model: nn.Module, data: SampleSet, batch_size: int = 4096) -> dict:
    """Weighted BCE loss, accuracy at p = 0.5 and ROC AUC (rank statistic, unweighted)."""
    from scipy.stats import rankdata

    model.eval()
    logits = torch.cat([model(data.x[i:i + batch_size]) for i in range(0, len(data),
                                                                        batch_size)])
    loss = float(_loss(logits, data.y, data.weight))
    y = data.y.numpy() > 0.5
    acc = float(np.mean((logits.numpy() > 0) == y))
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    auc = None
    if n_pos and n_neg:
        ranks = rankdata(logits.numpy())
        auc = float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return {"loss": loss, "accuracy": acc, "auc": auc}


class _Trainer:
    """Epochs of Adam on the active weights, with masks enforced after every step."""

    def __init__(self, model: nn.Module, train: SampleSet, config: SparseTrainingConfig,
                 seed: int, progress: Callable[[str, int, int], None]) -> None:
        self.model, self.train, self.config, self.progress = model, train, config, progress
        self.gen = torch.Generator().manual_seed(seed)
        self.sparse = [m for m in model.modules() if isinstance(m, SparseLinear)]

    def phase(self, stage: str, n_epochs: int) -> Iterator[float]:
        """Train ``n_epochs`` with one fresh Adam; yields the mean train loss per epoch."""
        opt = torch.optim.Adam(self.model.parameters(), lr=self.config.lr,
                               weight_decay=self.config.weight_decay)
        n_batches = math.ceil(len(self.train) / self.config.batch_size)
        total, last = n_epochs * n_batches, time.monotonic()
        self.progress(stage, 0, total)
        for e in range(n_epochs):
            self.model.train()
            order = torch.randperm(len(self.train), generator=self.gen)
            acc, count = 0.0, 0
            for b in range(n_batches):
                idx = order[b * self.config.batch_size:(b + 1) * self.config.batch_size]
                w = None if self.train.weight is None else self.train.weight[idx]
                loss = _loss(self.model(self.train.x[idx]), self.train.y[idx], w)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                for layer in self.sparse:
                    layer.apply_mask_(opt)
                acc, count = acc + loss.item() * len(idx), count + len(idx)
                now = time.monotonic()
                if now - last > 0.2 or b == n_batches - 1:
                    self.progress(stage, e * n_batches + b + 1, total)
                    last = now
            yield acc / count


def _layer_sparsity(model: nn.Module) -> dict[str, float]:
    return {name: 1.0 - m.density for name, m in model.named_modules()
            if isinstance(m, SparseLinear)}


def train_sadnn(model: nn.Module, train: SampleSet | tuple, val: SampleSet | tuple,
                config: SparseTrainingConfig | None = None,
                seed: int = 0, progress: Callable[[str, int, int], None] | None = None,
                ) -> SparseHistory:
    """Run Algorithm 1 on ``model`` in place (BCE on its logits); returns the history.

    ``train`` / ``val`` are :class:`SampleSet` or (x, y[, weight]) tuples. The model ends
    in the best round-T state by validation loss. A model without a sparse layer (the
    dense baseline) trains in the dense mode instead: as many epochs as the schedule
    (pre-training plus every round's), all weights, one Adam, the best epoch by
    validation loss kept (``pretrain`` holds its epochs; stage ``"dense epochs"``).
    ``progress(stage, done, total)`` is called at least once per epoch (stages
    ``"pretrain"``, ``"round t/T"``); raising :class:`napari_msdl._progress.Cancelled`
    from it stops the run, leaving the model in a consistent state (masked weights zero).
    """
    config = config or SparseTrainingConfig()
    train, val = SampleSet.coerce(train), SampleSet.coerce(val)
    progress = progress or no_progress
    layers = [m for m in model.modules() if isinstance(m, SparseLinear)]
    trainer = _Trainer(model, train, config, seed, progress)
    history = SparseHistory(config=config.to_dict(), seed=seed)
    if not layers:
        return _train_dense(model, val, config, trainer, history)

    for e, loss in enumerate(trainer.phase("pretrain", config.pretrain_epochs)):
        history.pretrain.append(EpochRecord(e + 1, loss))
    if config.pretrain_epochs:
        history.pretrain[-1].val = evaluate(model, val)
        _report_round(progress, "pretrain", history.pretrain[-1].train_loss,
                      history.pretrain[-1].val, _layer_sparsity(model))

    starts = {id(m): int(m.n_active.max()) for m in layers}
    schedules = {id(m): active_schedule(starts[id(m)], config.target_for(m.in_features),
                                        config.rounds, config.decay) for m in layers}
    best = (math.inf, None, None)
    for t in range(1, config.rounds + 1):
        t0, stage = time.perf_counter(), f"round {t}/{config.rounds}"
        l1_err, fractions = 0.0, []
        for m in layers:
            prev = int(m.n_active.max())
            frac = (prev - schedules[id(m)][t - 1]) / prev
            stats = sparsify_step(m, frac)
            l1_err, fractions = max(l1_err, stats.max_l1_rel_error), fractions + [frac]
        final = t == config.rounds
        epochs: list[EpochRecord] = []
        if final:
            v = evaluate(model, val)
            epochs.append(EpochRecord(0, None, v))
            best = (v["loss"], (t, 0), _snapshot(model))
        for e, loss in enumerate(trainer.phase(stage, config.epochs_per_round)):
            v = evaluate(model, val) if final or e == config.epochs_per_round - 1 else None
            epochs.append(EpochRecord(e + 1, loss, v))
            if final and v["loss"] < best[0]:
                best = (v["loss"], (t, e + 1), _snapshot(model))
        if not epochs or epochs[-1].val is None:
            epochs.append(EpochRecord(len(epochs), None, evaluate(model, val)))
        n_act = layers[0].n_active
        history.rounds.append(RoundRecord(
            round=t, removal_fraction=fractions[0], sparsity=_layer_sparsity(model),
            active_per_filter={"mean": float(n_act.mean()), "min": int(n_act.min()),
                               "max": int(n_act.max())},
            union_inputs=int(layers[0].active_inputs().numel()),
            train_loss=next((r.train_loss for r in reversed(epochs)
                             if r.train_loss is not None), None),
            val=epochs[-1].val, max_l1_rel_error=l1_err,
            seconds=time.perf_counter() - t0, epochs=epochs))
        _report_round(progress, stage, history.rounds[-1].train_loss, epochs[-1].val,
                      history.rounds[-1].sparsity)
    model.load_state_dict(best[2])
    history.best = {"round": best[1][0], "epoch": best[1][1], "val_loss": best[0]}
    return history


def _report_round(progress, stage: str, train_loss: float | None, val: dict | None,
                  sparsity: dict[str, float]) -> None:
    """A round's figures for a live plot (:func:`~napari_msdl._progress.report_figures`):
    the losses and the first sparse layer's sparsity (0 for a dense net)."""
    report_figures(progress, stage, {"train_loss": train_loss,
                                     "val_loss": None if val is None else val["loss"],
                                     "sparsity": next(iter(sparsity.values()), 0.0)})


def _train_dense(model: nn.Module, val: SampleSet, config: SparseTrainingConfig,
                 trainer: _Trainer, history: SparseHistory) -> SparseHistory:
    """The dense mode: as many epochs as the sparse schedule, every weight, one Adam; the
    model ends in its best epoch by validation loss (the dense baseline's training)."""
    n_epochs = config.pretrain_epochs + config.rounds * config.epochs_per_round
    best = (math.inf, 0, _snapshot(model))
    for e, loss in enumerate(trainer.phase("dense epochs", n_epochs), start=1):
        v = evaluate(model, val)
        history.pretrain.append(EpochRecord(e, loss, v))
        _report_round(trainer.progress, f"dense epoch {e}", loss, v, {})
        if v["loss"] < best[0]:
            best = (v["loss"], e, _snapshot(model))
    model.load_state_dict(best[2])
    history.best = {"round": 0, "epoch": best[1], "val_loss": best[0]}
    return history


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
