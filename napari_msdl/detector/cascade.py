"""A stage's classifiers: the negative-filtering cascade in front of the main network.

Seed Fig. 5: shallow sparse nets (5832 sparse x 60 x 1) each reject hypotheses whose
logit falls below a threshold chosen to keep (nearly) all positives; the main network
(5832 sparse x 150 x 80 x 50 x 1) scores what is left. At inference each network reads
only its own active inputs (the first layer's sparsity pattern) for the hypotheses still
alive, in chunks so memory stays bounded: the hypotheses give its first layer (on the
CPU each filter's few taps, fused with the gather, see
:mod:`napari_msdl.detector.features`), and
:meth:`~napari_msdl.sparse.networks.ActiveNet.head_logits` the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from napari_msdl.sparse.networks import ActiveNet


class Hypotheses(Protocol):
    """What a stage scores: :class:`~napari_msdl.detector.hypotheses.PositionHypotheses`
    or :class:`~napari_msdl.detector.hypotheses.BoxHypotheses`."""

    def first_layer(self, net: ActiveNet, idx: np.ndarray) -> torch.Tensor:
        """``net``'s first layer (len(idx), H) on the hypotheses ``idx``."""


REJECT_OFFSET = 1.0e4
"""Subtracted from the logit of a hypothesis per cascade level it did not pass."""


@dataclass
class StageNets:
    """The cascade levels, their logit thresholds, and the main classifier of a stage."""

    cascade: list[torch.nn.Module]
    thresholds: list[float]
    main: torch.nn.Module

    def __post_init__(self) -> None:
        if len(self.cascade) != len(self.thresholds):
            raise ValueError(f"{len(self.cascade)} cascade nets but {len(self.thresholds)} "
                             "thresholds")
        self.refresh()

    def refresh(self) -> None:
        """Re-read every network's active inputs and inference weights (after training,
        loading or moving to a device)."""
        self._compiled = [ActiveNet(n) for n in self.networks]

    @property
    def networks(self) -> list[torch.nn.Module]:
        return [*self.cascade, self.main]

    def to(self, device: str | torch.device) -> StageNets:
        """Move the networks to ``device`` (and refresh the inference weights)."""
        if str(device) != getattr(self, "_device", None):
            for net in self.networks:
                net.to(device)
            self.refresh()
            self._device = str(device)
        return self

    @torch.no_grad()
    def score(self, hyps: Hypotheses, n: int, chunk: int = 8192,
              report: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, int]:
        """Logits (n,) of hypotheses 0..n-1, and how many passed the cascade.

        A hypothesis rejected at cascade level i gets its logit there minus
        ``REJECT_OFFSET * (levels - i)``: it ranks below every survivor (and below those
        rejected later), so a stage can still return its best guesses when the cascade
        rejects everything. ``report(done, n)`` is called after every chunk (it may
        raise to cancel).
        """
        out = np.empty(n, dtype=np.float32)
        passed = 0
        levels = len(self.cascade)
        for start in range(0, n, chunk):
            alive = np.arange(start, min(n, start + chunk))
            for level, (net, thr) in enumerate(
                    zip(self._compiled, self.thresholds, strict=False)):
                if alive.size == 0:
                    break
                logit = net.head_logits(hyps.first_layer(net, alive))
                keep = logit >= thr
                out[alive[~keep]] = logit[~keep] - REJECT_OFFSET * (levels - level)
                alive = alive[keep]
            if alive.size:
                main = self._compiled[-1]
                out[alive] = main.head_logits(hyps.first_layer(main, alive))
            passed += alive.size
            if report is not None:
                report(min(n, start + chunk), n)
        return out, passed

    @torch.no_grad()
    def filter_levels(self, x: torch.Tensor) -> list[np.ndarray]:
        """Per cascade level, the boolean mask of rows of full features ``x`` it passes
        (cumulative: a row rejected at level i stays rejected)."""
        alive = np.ones(len(x), dtype=bool)
        masks = []
        for net, thr in zip(self.cascade, self.thresholds, strict=True):
            alive = alive & (full_logits(net, x) >= thr)
            masks.append(alive.copy())
        return masks


@torch.no_grad()
def full_logits(net: torch.nn.Module, x, batch: int = 8192) -> np.ndarray:
    """Logits (n,) of a network on full 5832-input features ``x`` (training, thresholds)."""
    net.eval()
    x = torch.as_tensor(x)
    return np.concatenate([net(x[i:i + batch].float()).reshape(-1).cpu().numpy()
                           for i in range(0, len(x), batch)] or [np.zeros(0, np.float32)])


def recall_threshold(pos_logits: np.ndarray, recall: float) -> float:
    """The largest logit threshold that keeps at least ``recall`` of the positives."""
    if pos_logits.size == 0:
        raise ValueError("cannot choose a cascade threshold without positives")
    s = np.sort(pos_logits)
    k = int(np.floor((1.0 - recall) * len(s)))
    return float(np.nextafter(s[k], -np.inf))
