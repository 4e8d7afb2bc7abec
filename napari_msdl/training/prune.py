"""Pruning a trained detector further: more rounds of Algorithm 1 on its sparse layers.

``prune_bundle(model, out, PruneConfig(sparsity, rounds), data)`` takes every sparse
network of every stage (cascade levels and main classifiers) from its current fan-in down to
``(1 - sparsity) * 5832`` active inputs per filter, in ``rounds`` rounds with exponentially
fewer removals per round (the same schedule as training). With a dataset, each round is
followed by fine-tuning on the stage's samples (:func:`napari_msdl.sparse.train_sadnn` with
no pre-training starts from the current map and never revives a removed weight), and the
cascade thresholds are re-chosen to keep the training recall. Without data only steps 6-8
of Algorithm 1 run (remove, rescale to the filter's L1 norm) and thresholds stay as they
were, which the report says. The input model is never modified; the pruned bundle keeps every
part of it (the boundary model included) and its card records what was done.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_msdl._io import check_number, check_output, check_whole
from napari_msdl._progress import Prefixed, ProgressCallback, Steps, no_progress, report_figures
from napari_msdl.bundle import BUNDLE_OUTPUT, HistoryEntry, ValveModel, load_bundle, save_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.detector.cascade import full_logits, recall_threshold
from napari_msdl.detector.model import DetectorModel, parse_network_name
from napari_msdl.sparse import SampleSet, SparseTrainingConfig, active_schedule, sparsify_step
from napari_msdl.sparse.inspect import first_sparse_layer
from napari_msdl.sparse.networks import ActiveNet
from napari_msdl.training.stage import balanced_weights
from napari_msdl.training.train import TrainConfig


@dataclass(frozen=True)
class PruneConfig:
    """What pruning does: every sparse filter down to ``(1 - sparsity) * 5832`` inputs in
    ``rounds`` rounds; with data, ``epochs_per_round`` of fine-tuning after each and the
    cascade thresholds re-chosen to keep ``recall`` of the positives."""

    sparsity: float
    rounds: int = 3
    epochs_per_round: int = 1
    seed: int = 0
    recall: float = 0.995
    timing_hypotheses: int = 100_000

    def __post_init__(self) -> None:
        check_number("sparsity", self.sparsity, 0.0, 1.0, low_open=True, high_open=True)
        check_whole("rounds", self.rounds, 1, 100)
        check_whole("epochs_per_round", self.epochs_per_round, 0, 1000)
        check_whole("seed", self.seed, 0)
        check_number("recall", self.recall, 0.0, 1.0, low_open=True)
        check_whole("timing_hypotheses", self.timing_hypotheses, 1000, 10_000_000)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def inference_seconds(net: torch.nn.Module, n: int = 100_000, seed: int = 0,
                      batch: int = 8192, repeats: int = 3) -> float:
    """Seconds for ``net`` to score ``n`` hypotheses from already-gathered active inputs
    (through :class:`~napari_msdl.sparse.networks.ActiveNet`, as detection scores), in
    chunks of ``batch`` as detection does, so memory stays small whatever ``n``: the
    median of ``repeats`` timed runs (a shared machine makes any single one noisy)."""
    compiled = ActiveNet(net)
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal(
        (min(n, batch), compiled.n_active), np.float32))
    compiled.logits(x[:1000])
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        for start in range(0, n, len(x)):
            compiled.logits(x[:min(len(x), n - start)])
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def model_figures(model: DetectorModel, n: int = 100_000) -> dict[str, dict[str, Any]]:
    """Per network: active inputs (union), fan-in, sparsity, and the seconds to score 100k
    hypotheses (timed on ``n`` and scaled)."""
    out: dict[str, dict[str, Any]] = {}
    for name, net in model.networks().items():
        layer = first_sparse_layer(net)
        out[name] = {
            "active_inputs": int(layer.active_inputs().numel()),
            "fan_in": float(layer.n_active.mean()),
            "sparsity": 1.0 - layer.density,
            "seconds_per_100k": inference_seconds(net, n) * 100_000 / n,
        }
    return out


def _target(sparsity: float, n_inputs: int) -> int:
    return max(1, int(round((1.0 - sparsity) * n_inputs)))


def prune_model(model: DetectorModel, config: PruneConfig, data: Dataset | None = None,
                train_config: TrainConfig | None = None,
                progress: ProgressCallback | None = None
                ) -> tuple[DetectorModel, dict[str, Any]]:
    """A pruned copy of the detector ``model`` and a before/after report (see the module
    docstring); ``train_config`` draws the fine-tuning samples (default: the defaults)."""
    from napari_msdl.evaluation import evaluate_cases

    if model.dense:
        raise ValueError("a dense baseline model has no sparse layers to prune")
    progress = progress or no_progress
    train_config = train_config or TrainConfig()
    pruned = copy.deepcopy(model)
    networks = pruned.networks()
    # timing before, (samples and validation,) each network, timing after (, validation)
    steps = Steps(progress, len(networks) + 2 + 2 * (data is not None))
    report: dict[str, Any] = {"sparsity_target": config.sparsity, "rounds": config.rounds,
                              "fine_tuned": data is not None,
                              "before": model_figures(model, config.timing_hypotheses)}
    steps.next()
    samples = val_cases = None
    seed = config.seed
    if data is not None:
        train_cases, val_cases = data.split(seed=seed)
        samples = {"train": stage_samples(model, train_cases, train_config, seed, "train",
                                          progress),
                   "val": stage_samples(model, val_cases, train_config, seed + 1,
                                        "validation", progress)}
        report["validation_before"] = _errors(evaluate_cases(model, val_cases, progress=progress))
        steps.next()
    skipped = []
    for name, net in networks.items():
        layer = first_sparse_layer(net)
        target = _target(config.sparsity, layer.in_features)
        start = int(layer.n_active.max())
        if start <= target:
            skipped.append(f"{name}: already {start} inputs per filter <= {target}")
            steps.next()
            continue
        tag = f"prune {name}"
        if samples is None:
            for t, n_after in enumerate(active_schedule(start, target, config.rounds), 1):
                prev = int(layer.n_active.max())
                sparsify_step(layer, (prev - n_after) / prev)
                progress(tag, t, config.rounds)
        else:
            sparse = SparseTrainingConfig(pretrain_epochs=0, rounds=config.rounds,
                                          epochs_per_round=config.epochs_per_round,
                                          target_active_inputs=target, batch_size=512, lr=1e-3)
            _fine_tune(pruned, name, net, samples, sparse, seed, config.recall, progress, tag)
        report_figures(progress, tag, {"report": f"{name}: {start} -> "
                                                 f"{int(layer.n_active.max())} inputs per filter"})
        steps.next()
    for nets in pruned.stages.values():
        nets.refresh()
    report["after"] = model_figures(pruned, config.timing_hypotheses)
    steps.next()
    report["skipped"] = skipped
    if val_cases is not None:
        report["validation_after"] = _errors(evaluate_cases(pruned, val_cases, progress=progress))
        steps.next()
    return pruned, report


def prune_bundle(model: ValveModel | str | Path | None, out: str | Path, config: PruneConfig,
                 data: str | Path | Dataset | None = None,
                 progress: ProgressCallback | None = None,
                 command: str | None = None) -> tuple[ValveModel, dict[str, Any]]:
    """Prune the detector of a bundle (a loaded one, its folder, or None for the bundled
    model) and write the whole bundle, boundary model included, to ``out``; the card's
    history records the pruning and its report. Returns the new bundle and the report."""
    from napari_msdl.training.bundle_training import source_path

    ds = data if data is None or isinstance(data, Dataset) else Dataset.open(data)
    check_output(out, BUNDLE_OUTPUT, inputs=[source_path(model), None if ds is None else ds.root])
    source = model if isinstance(model, ValveModel) else load_bundle(model)
    record = source.card.detector
    train_config = TrainConfig.from_dict(record.config) if record.config else TrainConfig()
    detector, report = prune_model(source.detector, config, ds, train_config, progress)
    report["samples_config"] = "the card's" if record.config else "the defaults (the card " \
        "records no training configuration)"
    entry = HistoryEntry("pruned", command=command,
                         parent=None if source.path is None else str(source.path),
                         parameters={**config.to_dict(),
                                     "data": None if ds is None else str(ds.root.resolve())},
                         figures=report)
    pruned = ValveModel(detector=detector, boundary=source.boundary,
                        card=source.card.with_history(entry))
    save_bundle(pruned, out)
    pruned.path = Path(out)
    return pruned, report


def stage_samples(model: DetectorModel, cases: list, config: TrainConfig, seed: int,
                  label: str, progress: ProgressCallback
                  ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Training samples of every stage over ``cases``, drawn as training draws them (with
    ``config``), the model's own hypothesis ranges and its position stage for the
    confusers."""
    from napari_msdl.training.train import box_pass, confuser_pass, position_pass

    fvs, position = position_pass(cases, model.spacing, config, seed, f"samples ({label})",
                                  progress)
    confusers = confuser_pass(model.stages["position"], cases, fvs, config,
                              f"confusers ({label})", progress)
    out = box_pass(cases, fvs, confusers, model.orientations, model.sizes, config, seed,
                   f"samples ({label})", progress)
    return {"position": position, **out}


def _errors(rep: dict[str, Any]) -> dict[str, float]:
    return {"position_error_mean": rep["position_error"]["mean"],
            "corner_error_mean": rep["corner_error"]["mean"]}


def _fine_tune(model: DetectorModel, name: str, net: torch.nn.Module,
               samples: dict[str, dict], config: SparseTrainingConfig, seed: int,
               recall: float, progress: ProgressCallback, tag: str) -> None:
    """Algorithm 1 rounds with training on the samples this network sees in the cascade."""
    from napari_msdl.sparse import train_sadnn

    stage, level = parse_network_name(name)
    nets = model.stages[stage]
    (x, y), (xv, yv) = samples["train"][stage], samples["val"][stage]
    before = len(nets.cascade) if level is None else level - 1
    keep, keep_v = np.ones(len(y), bool), np.ones(len(yv), bool)
    for prev_net, thr in zip(nets.cascade[:before], nets.thresholds[:before], strict=True):
        keep &= full_logits(prev_net, x) >= thr
        keep_v &= full_logits(prev_net, xv) >= thr
    train = SampleSet(x[keep], y[keep], balanced_weights(y[keep]))
    val = SampleSet(xv[keep_v], yv[keep_v], balanced_weights(yv[keep_v]))
    train_sadnn(net, train, val, replace(config), seed, Prefixed(progress, tag))
    net.eval()
    if level is not None:
        lt, lv = full_logits(net, train.x), full_logits(net, val.x)
        thr = min(recall_threshold(lt[y[keep] > 0.5], recall),
                  recall_threshold(lv[yv[keep_v] > 0.5], recall))
        nets.thresholds[level - 1] = thr


def format_report(report: dict[str, Any]) -> str:
    """Before/after table: active inputs, fan-in and seconds per 100k, per network."""
    lines = ["| network | active inputs before | after | fan-in before | after | "
             "s / 100k before | after |", "|---|---|---|---|---|---|---|"]
    for name, b in report["before"].items():
        a = report["after"][name]
        lines.append(f"| {name} | {b['active_inputs']} | {a['active_inputs']} | "
                     f"{b['fan_in']:.1f} | {a['fan_in']:.1f} | "
                     f"{b['seconds_per_100k']:.4f} | {a['seconds_per_100k']:.4f} |")
    if "validation_before" in report:
        vb, va = report["validation_before"], report["validation_after"]
        lines.append(f"\nvalidation (mean position / corner error, mm): before "
                     f"{vb['position_error_mean']:.2f} / {vb['corner_error_mean']:.2f}, after "
                     f"{va['position_error_mean']:.2f} / {va['corner_error_mean']:.2f}")
    else:
        lines.append("\nno data: no fine-tuning, cascade thresholds unchanged, no validation "
                     "score (give a dataset to fine-tune and measure)")
    lines += [f"skipped: {s}" for s in report["skipped"]]
    return "\n".join(lines)
