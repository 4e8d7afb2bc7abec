"""Pruning a trained detector further: more rounds of Algorithm 1 on its sparse layers.

``prune_model(model, sparsity, rounds, data)`` takes every sparse network of every stage
(cascade levels and main classifiers) from its current fan-in down to
``(1 - sparsity) * 5832`` active inputs per filter, in ``rounds`` rounds with exponentially
fewer removals per round (the same schedule as training). With a dataset, each round is
followed by fine-tuning on the stage's samples (:func:`napari_msdl.sparse.train_sadnn` with
no pre-training starts from the current map and never revives a removed weight), and the
cascade thresholds are re-chosen to keep the training recall. Without data only steps 6-8
of Algorithm 1 run (remove, rescale to the filter's L1 norm) and thresholds stay as they
were, which the report says. The input model is never modified.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.detector.cascade import full_logits, recall_threshold
from napari_msdl.detector.model import DetectorModel
from napari_msdl.sparse import SampleSet, SparseTrainingConfig, active_schedule, sparsify_step
from napari_msdl.sparse.inspect import first_sparse_layer
from napari_msdl.training.datasets import Dataset
from napari_msdl.training.stage import balanced_weights


def _labelled_networks(model: DetectorModel) -> list[tuple[str, str, torch.nn.Module]]:
    out = []
    for stage, nets in model.stages.items():
        out += [(stage, f"cascade{i + 1}", n) for i, n in enumerate(nets.cascade)]
        out.append((stage, "main", nets.main))
    return out


def inference_seconds(net: torch.nn.Module, n: int = 100_000, seed: int = 0) -> float:
    """Seconds for ``net`` to score ``n`` hypotheses from already-gathered active inputs."""
    k = len(net.active_inputs())
    x = torch.from_numpy(np.random.default_rng(seed).standard_normal((n, k), np.float32))
    net.eval()
    with torch.no_grad():
        net.forward_active(x[:1000])
        t0 = time.perf_counter()
        net.forward_active(x)
    return time.perf_counter() - t0


def model_figures(model: DetectorModel, n: int = 100_000) -> dict[str, dict[str, Any]]:
    """Per stage and network: active inputs (union), fan-in, sparsity, and the seconds to
    score 100k hypotheses (timed on ``n`` and scaled)."""
    out: dict[str, dict[str, Any]] = {}
    for stage, label, net in _labelled_networks(model):
        layer = first_sparse_layer(net)
        out.setdefault(stage, {})[label] = {
            "active_inputs": int(layer.active_inputs().numel()),
            "fan_in": float(layer.n_active.mean()),
            "sparsity": 1.0 - layer.density,
            "seconds_per_100k": inference_seconds(net, n) * 100_000 / n,
        }
    return out


def _target(sparsity: float, n_inputs: int) -> int:
    if not 0.0 < sparsity < 1.0:
        raise ValueError(f"--sparsity must be a fraction in (0, 1), e.g. 0.998, got {sparsity}")
    return max(1, int(round((1.0 - sparsity) * n_inputs)))


def prune_model(model: DetectorModel, sparsity: float, rounds: int = 3,
                data: str | Dataset | None = None, seed: int = 0, epochs_per_round: int = 1,
                recall: float = 0.995, progress: ProgressCallback | None = None,
                timing_hypotheses: int = 100_000) -> tuple[DetectorModel, dict[str, Any]]:
    """A pruned copy of ``model`` and a before/after report (see the module docstring);
    inference times are measured on ``timing_hypotheses`` random gathered inputs."""
    from napari_msdl.training.evaluate import evaluate_cases

    if model.dense:
        raise ValueError("a dense baseline model has no sparse layers to prune")
    if rounds < 1:
        raise ValueError(f"--rounds must be at least 1, got {rounds}")
    _target(sparsity, 1)
    progress = progress or no_progress
    pruned = copy.deepcopy(model)
    report: dict[str, Any] = {"sparsity_target": sparsity, "rounds": rounds,
                              "fine_tuned": data is not None,
                              "before": model_figures(model, timing_hypotheses)}
    samples = val_cases = None
    if data is not None:
        ds = data if isinstance(data, Dataset) else Dataset.open(data)
        train_cases, val_cases = ds.split(seed=seed)
        samples = {"train": stage_samples(model, train_cases, seed, "train", progress),
                   "val": stage_samples(model, val_cases, seed + 1, "validation", progress)}
        report["validation_before"] = _errors(evaluate_cases(model, val_cases, progress=progress))
    skipped = []
    for stage, label, net in _labelled_networks(pruned):
        layer = first_sparse_layer(net)
        target = _target(sparsity, layer.in_features)
        start = int(layer.n_active.max())
        if start <= target:
            skipped.append(f"{stage} {label}: already {start} inputs per filter <= {target}")
            continue
        tag = f"prune {stage} {label}"
        if samples is None:
            for t, n_after in enumerate(active_schedule(start, target, rounds), 1):
                prev = int(layer.n_active.max())
                sparsify_step(layer, (prev - n_after) / prev)
                progress(tag, t, rounds)
        else:
            config = SparseTrainingConfig(pretrain_epochs=0, rounds=rounds,
                                          epochs_per_round=epochs_per_round,
                                          target_active_inputs=target, batch_size=512, lr=1e-3)
            _fine_tune(pruned, stage, label, net, samples, config, seed, recall, progress, tag)
    for nets in pruned.stages.values():
        nets.refresh()
    pruned.card = {**model.card, "pruned": {"sparsity": sparsity, "rounds": rounds,
                                            "fine_tuned": data is not None, "seed": seed}}
    report["after"] = model_figures(pruned, timing_hypotheses)
    report["skipped"] = skipped
    if val_cases is not None:
        report["validation_after"] = _errors(evaluate_cases(pruned, val_cases, progress=progress))
    return pruned, report


def stage_samples(model: DetectorModel, cases: list, seed: int, label: str,
                  progress: ProgressCallback) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Training samples of every stage over ``cases``, drawn as training draws them, with
    the model's own hypothesis ranges and its position stage for the confusers."""
    from napari_msdl.training.train import TrainConfig, box_pass, confuser_pass, position_pass

    cfg = TrainConfig()
    fvs, position = position_pass(cases, model.spacing, cfg, seed, f"samples ({label})",
                                  progress)
    confusers = confuser_pass(model.stages["position"], cases, fvs, cfg, f"confusers ({label})",
                           progress)
    out = box_pass(cases, fvs, confusers, model.orientations, model.sizes, cfg, seed,
                   f"samples ({label})", progress)
    return {"position": position, **out}


def _errors(rep: dict[str, Any]) -> dict[str, float]:
    return {"position_error_mean": rep["position_error"]["mean"],
            "corner_error_mean": rep["corner_error"]["mean"]}


def _fine_tune(model: DetectorModel, stage: str, label: str, net: torch.nn.Module,
               samples: dict[str, dict], config: SparseTrainingConfig, seed: int,
               recall: float, progress: ProgressCallback, tag: str) -> None:
    """Algorithm 1 rounds with training on the samples this network sees in the cascade."""
    from napari_msdl.sparse import train_sadnn

    nets = model.stages[stage]
    (x, y), (xv, yv) = samples["train"][stage], samples["val"][stage]
    level = len(nets.cascade) if label == "main" else int(label[len("cascade"):]) - 1
    keep, keep_v = np.ones(len(y), bool), np.ones(len(yv), bool)
    for prev_net, thr in zip(nets.cascade[:level], nets.thresholds[:level], strict=True):
        keep &= full_logits(prev_net, x) >= thr
        keep_v &= full_logits(prev_net, xv) >= thr
    train = SampleSet(x[keep], y[keep], balanced_weights(y[keep]))
    val = SampleSet(xv[keep_v], yv[keep_v], balanced_weights(yv[keep_v]))
    report = lambda s, d, t: progress(f"{tag}: {s}", d, t)  # noqa: E731
    train_sadnn(net, train, val, replace(config), seed, report)
    net.eval()
    if label != "main":
        lt, lv = full_logits(net, train.x), full_logits(net, val.x)
        thr = min(recall_threshold(lt[y[keep] > 0.5], recall),
                  recall_threshold(lv[yv[keep_v] > 0.5], recall))
        nets.thresholds[level] = thr


def format_report(report: dict[str, Any]) -> str:
    """Before/after table: active inputs, fan-in and seconds per 100k, per stage and net."""
    lines = ["| stage | network | active inputs before | after | fan-in before | after | "
             "s / 100k before | after |", "|---|---|---|---|---|---|---|---|"]
    for stage, nets in report["before"].items():
        for label, b in nets.items():
            a = report["after"][stage][label]
            lines.append(f"| {stage} | {label} | {b['active_inputs']} | {a['active_inputs']} | "
                         f"{b['fan_in']:.1f} | {a['fan_in']:.1f} | "
                         f"{b['seconds_per_100k']:.4f} | {a['seconds_per_100k']:.4f} |")
    if "validation_before" in report:
        vb, va = report["validation_before"], report["validation_after"]
        lines.append(f"\nvalidation (mean position / corner error, mm): before "
                     f"{vb['position_error_mean']:.2f} / {vb['corner_error_mean']:.2f}, after "
                     f"{va['position_error_mean']:.2f} / {va['corner_error_mean']:.2f}")
    else:
        lines.append("\nno --data: no fine-tuning, cascade thresholds unchanged, no validation "
                     "score (give --data DIR to fine-tune and measure)")
    lines += [f"skipped: {s}" for s in report["skipped"]]
    return "\n".join(lines)
