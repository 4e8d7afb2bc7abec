"""The hypotheses of each marginal stage, and the feature gather that describes them.

* :class:`PositionHypotheses`: voxels of the feature volume; an axis-aligned box of the
  mean size around each, read by integer offsets.
* :class:`BoxHypotheses`: oriented boxes (center, rotation, size), read trilinearly.
  The orientation stage expands position candidates by the orientation set (mean size),
  the scale stage expands (position, orientation) candidates by the size set; both add
  small position jitters.

Training (:mod:`napari_msdl.training.samples`) and detection use these same classes,
so a network sees at detection exactly the kind of features it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from napari_msdl.detector.features import (
    FeatureVolume,
    base_index,
    gather_boxes,
    gather_shifted,
    pattern_offsets,
    shift_offsets,
)
from napari_msdl.detector.hypotheses import voxel_centers


class _OffsetCache:
    """Per first-layer pattern, the offsets a gather needs (computed once per pattern)."""

    def __init__(self, make):
        self._make = make
        self._cache: dict[bytes, np.ndarray] = {}

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        key = np.asarray(inputs, dtype=np.int64).tobytes()
        if key not in self._cache:
            self._cache[key] = self._make(inputs)
        return self._cache[key]


@dataclass
class PositionHypotheses:
    """Axis-aligned boxes of the mean size centred half a voxel above ``voxels`` (N, 3)."""

    fv: FeatureVolume
    voxels: np.ndarray
    device: str | torch.device = "cpu"

    def __post_init__(self) -> None:
        self.voxels = np.asarray(self.voxels, dtype=np.int64).reshape(-1, 3)
        self._bases = base_index(self.voxels, self.fv.data.shape)
        self._offsets = _OffsetCache(lambda inp: shift_offsets(inp, self.fv.data.shape))

    def __len__(self) -> int:
        return len(self.voxels)

    @property
    def centers(self) -> np.ndarray:
        return voxel_centers(self.fv, self.voxels)

    def gather(self, inputs: np.ndarray, idx: np.ndarray):
        """Features (len(idx), len(inputs)) of hypotheses ``idx``."""
        return gather_shifted(self.fv, self._bases[idx], self._offsets(inputs), self.device)


@dataclass
class BoxHypotheses:
    """Oriented boxes: ``centers`` (N, 3) mm, ``rotations`` (N, 3, 3), ``sizes`` (N, 3) mm."""

    fv: FeatureVolume
    centers: np.ndarray
    rotations: np.ndarray
    sizes: np.ndarray
    device: str | torch.device = "cpu"

    def __post_init__(self) -> None:
        n = len(self.centers)
        if self.rotations.shape != (n, 3, 3) or self.sizes.shape != (n, 3):
            raise ValueError(f"box hypotheses need (N,3) centers, (N,3,3) rotations and (N,3) "
                             f"sizes; got {self.centers.shape}, {self.rotations.shape}, "
                             f"{self.sizes.shape}")
        self._offsets = _OffsetCache(pattern_offsets)

    def __len__(self) -> int:
        return len(self.centers)

    def gather(self, inputs: np.ndarray, idx: np.ndarray):
        """Features (len(idx), len(inputs)) of hypotheses ``idx``."""
        return gather_boxes(self.fv, self.centers[idx], self.rotations[idx], self.sizes[idx],
                            self._offsets(inputs), self.device)

    def take(self, idx: np.ndarray) -> BoxHypotheses:
        """The hypotheses ``idx`` only."""
        return BoxHypotheses(self.fv, self.centers[idx], self.rotations[idx], self.sizes[idx],
                             self.device)


def expand(fv: FeatureVolume, centers: np.ndarray, rotations: np.ndarray, sizes: np.ndarray,
           jitters: np.ndarray, device: str | torch.device = "cpu") -> BoxHypotheses:
    """Every combination of candidate ``i`` (centers (P,3), rotations (P,3,3), sizes (P,3)),
    position jitter ``j`` (J,3) mm and one of the alternatives ``a``.

    Exactly one of ``rotations``/``sizes`` may have an extra alternatives axis: rotations
    (P, A, 3, 3) for the orientation stage, sizes (P, A, 3) for the scale stage. The
    result is ordered (P, J, A) in C order.
    """
    p, j = len(centers), len(jitters)
    rot = rotations if rotations.ndim == 4 else rotations[:, None]
    siz = sizes if sizes.ndim == 3 else sizes[:, None]
    a = max(rot.shape[1], siz.shape[1])
    c = np.broadcast_to(centers[:, None, None, :] + jitters[None, :, None, :], (p, j, a, 3))
    r = np.broadcast_to(rot[:, None], (p, j, a, 3, 3))
    s = np.broadcast_to(siz[:, None], (p, j, a, 3))
    return BoxHypotheses(fv, c.reshape(-1, 3).copy(), r.reshape(-1, 3, 3).copy(),
                         s.reshape(-1, 3).copy(), device)


def top_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest logits, best first (ties broken by index)."""
    k = min(k, len(logits))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-logits, k - 1)[:k] if k < len(logits) else np.arange(len(logits))
    return part[np.lexsort((part, -logits[part]))]


def top_indices_per_group(logits: np.ndarray, k: int, groups: np.ndarray) -> np.ndarray:
    """The ``k`` largest logits, best first, where each group's best comes in before any
    group's second: the best of every group (up to ``k`` of them, best groups first), then
    the best of the rest. Keeps every refined parent alive, so one strong mode cannot
    crowd out the others (see :func:`~napari_msdl.detector.detect.detect`)."""
    k = min(k, len(logits))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    order = top_indices(logits, len(logits))
    leader = np.zeros(len(order), dtype=bool)
    leader[np.unique(groups[order], return_index=True)[1]] = True
    leaders = order[leader][:k]
    chosen = np.concatenate([leaders, order[~leader][:k - len(leaders)]])
    return chosen[np.lexsort((chosen, -logits[chosen]))]
