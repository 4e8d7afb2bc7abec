"""Hard negatives from whole training volumes (bootstrapping, as MSL trains its stages).

* :func:`mine_position`: position hypotheses of a training volume that the trained
  cascade lets through although they are far from the truth. The main classifier trains
  on them, so it learns to tell the valve from what looks like it.
* :func:`position_confusers`: the centers the trained position stage ranks highest away
  from the truth. The orientation and scale stages see them at detection time (they are
  the position candidates that are wrong), so their samples draw negatives around them.
"""

from __future__ import annotations

import numpy as np

from napari_msdl.detector.cascade import REJECT_OFFSET, StageNets
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.detector.hypotheses import PositionHypotheses, data_voxels
from napari_msdl.detector.stages import top_indices
from napari_msdl.geometry import Pose
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.training.samples import SAMPLE_DTYPE

ALL_INPUTS = np.arange(N_INPUTS)


def _score(nets: StageNets, fv: FeatureVolume, stride: int) -> tuple[PositionHypotheses,
                                                                     np.ndarray]:
    nets.refresh()
    hyps = PositionHypotheses(fv, data_voxels(fv, stride))
    logits, _ = nets.score(hyps, len(hyps), 16384)
    return hyps, logits


def mine_position(nets: StageNets, fv: FeatureVolume, truth: Pose, far: float, n: int,
                  stride: int, rng: np.random.Generator) -> np.ndarray:
    """Features (<= n, 5832) of hypotheses farther than ``far`` mm from the truth that pass
    every cascade level: half the highest-scoring, half drawn at random among them."""
    hyps, logits = _score(nets, fv, stride)
    d = np.linalg.norm(hyps.centers - truth.center, axis=1)
    cand = np.flatnonzero((logits > -REJECT_OFFSET / 2) & (d > far))
    if len(cand) == 0:
        return np.zeros((0, N_INPUTS), SAMPLE_DTYPE)
    best = cand[top_indices(logits[cand], n // 2)]
    rest = np.setdiff1d(cand, best)
    extra = rng.choice(rest, min(len(rest), n - len(best)), replace=False)
    picked = np.sort(np.concatenate([best, extra]))
    return hyps.gather(ALL_INPUTS, picked).numpy().astype(SAMPLE_DTYPE)


def position_confusers(nets: StageNets, fv: FeatureVolume, truth: Pose, far: float, n: int,
                       stride: int) -> np.ndarray:
    """Centers (<= n, 3) of the best-ranked position hypotheses farther than ``far`` mm
    from the truth."""
    hyps, logits = _score(nets, fv, stride)
    d = np.linalg.norm(hyps.centers - truth.center, axis=1)
    cand = np.flatnonzero(d > far)
    return hyps.centers[cand[top_indices(logits[cand], n)]]
