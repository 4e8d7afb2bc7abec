"""The three marginal stages of detection, one function each, and how they rank.

Each stage scores its hypotheses with its cascade and main network, keeps the best
(``top_*`` of :class:`~napari_msdl.detector.model.SearchParams`) and returns them as a
:class:`StageResult`, which the next stage expands:

* :func:`search_position`: voxels of the feature volume on a stride, then each kept
  candidate moved to its best neighbour at stride 1 (``position_refine``);
* :func:`search_orientation`: the orientation set around each position candidate, then
  rotations of half a step around the best (``orientation_refine``);
* :func:`search_scale`: the size set around each (position, orientation) candidate.

Ranking sums the chain's logits (see :meth:`Search.score`); every scoring step reports
progress through the search's callback, so Cancel takes effect within a chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from napari_msdl._progress import ProgressCallback
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.detector.hypotheses import (
    MIN_BOX_SUPPORT,
    BoxHypotheses,
    PositionHypotheses,
    expand,
    jitter_offsets,
    position_voxels,
)
from napari_msdl.detector.model import DetectorModel, SearchParams
from napari_msdl.geometry import Pose, angles_from_rotation


@dataclass
class StageResult:
    """The candidates one stage kept (best first), and what it cost.

    ``scores`` are the stage's own probabilities; ``log_scores`` the log-probability of
    the whole chain so far; ``evidence`` the sum of the chain's logits (what the ranking
    uses, see :meth:`Search.score`); ``voxels`` the feature-volume voxels of position
    candidates (None for boxes).
    """

    centers: np.ndarray
    rotations: np.ndarray
    sizes: np.ndarray
    scores: np.ndarray
    log_scores: np.ndarray
    evidence: np.ndarray
    hypotheses: int
    passed_cascade: int
    seconds: float
    voxels: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.centers)

    @property
    def chain(self) -> np.ndarray:
        """(n, 2): per candidate its chain's evidence and log-probability."""
        return np.stack([self.evidence, self.log_scores], axis=1)

    def take(self, index: np.ndarray) -> StageResult:
        """The candidates at ``index`` (in that order), with the same counts and seconds."""
        return StageResult(self.centers[index], self.rotations[index], self.sizes[index],
                           self.scores[index], self.log_scores[index], self.evidence[index],
                           self.hypotheses, self.passed_cascade, self.seconds,
                           None if self.voxels is None else self.voxels[index])

    def poses(self) -> list[Pose]:
        """The kept candidates as poses."""
        return [Pose.from_rotation(c, r, s)
                for c, r, s in zip(self.centers, self.rotations, self.sizes, strict=True)]

    def to_dict(self) -> dict[str, Any]:
        return {"centers": self.centers.tolist(),
                "angles": angles_from_rotation(self.rotations).tolist(),
                "sizes": self.sizes.tolist(), "scores": self.scores.tolist(),
                "log_scores": self.log_scores.tolist(), "evidence": self.evidence.tolist(),
                "hypotheses": self.hypotheses, "passed_cascade": self.passed_cascade,
                "seconds": self.seconds}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -60, 60)))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x.astype(np.float64))


@dataclass
class _Scored:
    """What :meth:`Search.score` kept: indices, probabilities, chains, cascade passes."""

    top: np.ndarray
    prob: np.ndarray
    chain: np.ndarray
    passed: int


@dataclass
class Search:
    """One detection's search: the feature volume, the model, the search parameters, the
    device and the progress callback the stages share."""

    fv: FeatureVolume
    model: DetectorModel
    params: SearchParams
    device: str
    report: ProgressCallback

    @property
    def step(self) -> np.ndarray:
        """Half a position-grid step per axis (mm): the unit of the position jitters."""
        return self.fv.spacing * self.params.position_stride / 2

    def logits(self, label: str, stage: str, hyps) -> tuple[np.ndarray, int]:
        """Logits of every hypothesis of ``hyps`` by ``stage``'s nets, reported as
        ``label``; and how many passed the cascade."""
        self.report(label, 0, len(hyps))
        return self.model.stages[stage].score(
            hyps, len(hyps), self.params.chunk,
            lambda done, total: self.report(label, done, total))

    def score(self, label: str, stage: str, hyps, base: np.ndarray, k: int,
              groups: np.ndarray | None = None) -> _Scored:
        """Score ``hyps``; keep the ``k`` best by the chain's evidence. ``base`` (n, 2):
        per hypothesis its parents' evidence (sum of logits) and log-probability;
        ``groups``: per hypothesis its parent, each of which keeps its best (see
        :func:`top_indices_per_group`).

        The seed searches argmax p(T|I) p(R|T,I) p(S|T,R,I) stage by stage. Each stage's
        net saturates (a probability of 1 - 1e-4 and of 1 - 1e-12 both add ~0 to the
        log-probability), so a look-alike that every stage calls "surely valve" ties with
        the valve that the later stages call it far more surely. Summing the logits (the
        log-odds each stage adds, as independent evidence) keeps that difference; the
        log-probability is kept for the score and the weights of the final mean."""
        logits, passed = self.logits(label, stage, hyps)
        chain = base + np.stack([logits.astype(np.float64), _log_sigmoid(logits)], 1)
        top = (top_indices(chain[:, 0], k) if groups is None
               else top_indices_per_group(chain[:, 0], k, groups))
        return _Scored(top, _sigmoid(logits[top]), chain[top], passed)

    def boxes(self, result: StageResult) -> BoxHypotheses:
        """A stage's kept candidates as hypotheses of the next."""
        return BoxHypotheses(self.fv, result.centers, result.rotations, result.sizes,
                             self.device)


def _result(kept: BoxHypotheses, scored: _Scored, hypotheses: int, passed: int,
            t0: float) -> StageResult:
    return StageResult(kept.centers, kept.rotations, kept.sizes, scored.prob,
                       scored.chain[:, 1], scored.chain[:, 0], hypotheses, passed,
                       time.perf_counter() - t0)


def search_position(search: Search) -> tuple[StageResult, StageResult]:
    """The position stage: axis-aligned boxes of the mean size at voxels every
    ``position_stride`` whose box is at least :data:`MIN_BOX_SUPPORT` data, the
    ``top_position`` best each moved to its best voxel within ``position_refine``
    (:func:`refine_positions`).

    Returns those (what the orientation stage expands) and the pool: the
    ``max(top_position, position_pool)`` best, refined alike, of which they are a part
    (where :func:`~napari_msdl.detector.detect.other_modes` looks for other places)."""
    t0 = time.perf_counter()
    fv, params, model = search.fv, search.params, search.model
    pos = PositionHypotheses(fv, position_voxels(fv, params.position_stride), search.device)
    if len(pos) == 0:
        raise ValueError(
            "the volume has no position whose valve box (the mean size, "
            f"{' x '.join(f'{v:.0f}' for v in model.mean_size)} mm) is at least "
            f"{MIN_BOX_SUPPORT:.0%} image data: is the volume smaller than a valve, or empty?")
    k = max(params.top_position, params.position_pool)
    scored = search.score("position", "position", pos, np.zeros((len(pos), 2)), k)
    n = len(scored.top)
    coarse = StageResult(pos.centers[scored.top], np.broadcast_to(np.eye(3), (n, 3, 3)).copy(),
                         np.tile(model.mean_size, (n, 1)), scored.prob, scored.chain[:, 1],
                         scored.chain[:, 0], len(pos), scored.passed,
                         time.perf_counter() - t0, voxels=pos.voxels[scored.top])
    pool, rank = _refined(search, coarse)
    return pool.take(np.flatnonzero(rank < params.top_position)), pool


def refine_positions(search: Search, coarse: StageResult) -> StageResult:
    """Position candidates ``coarse`` (with their voxels), each moved to its best voxel
    within ``position_refine`` (the precision of stride 1 at the cost of a few thousand
    hypotheses); candidates that refine onto the same voxel are kept once, best first.
    Unchanged when refinement is off or the stride is 1."""
    return _refined(search, coarse)[0]


def refine_steps(stride: int, radius: int) -> list[tuple[int, int]]:
    """The coarse-to-fine steps of position refinement: ``(step, radius)`` in voxels,
    halving from half the stride down to 1 (radius 1 each, so every voxel between the
    grid points is reachable), the last at step 1 with ``radius``. Stride 2 is one step,
    (1, radius); stride 4 is (2, 1) then (1, radius)."""
    steps = []
    step = stride // 2
    while step > 1:
        steps.append((step, 1))
        step //= 2
    return [*steps, (1, radius)]


def _refined(search: Search, coarse: StageResult) -> tuple[StageResult, np.ndarray]:
    """:func:`refine_positions`, and per refined candidate the index of its coarse one."""
    t0 = time.perf_counter()
    params = search.params
    if not params.position_refine or params.position_stride == 1 or len(coarse) == 0:
        return coarse, np.arange(len(coarse))
    voxels, origin = coarse.voxels, np.arange(len(coarse))
    n_hyps, passed = coarse.hypotheses, coarse.passed_cascade
    for step, radius in refine_steps(params.position_stride, params.position_refine):
        fine = PositionHypotheses(search.fv, _neighbourhoods(search.fv, voxels, radius, step),
                                  search.device)
        logits, n_passed = search.logits("position refine", "position", fine)
        pick = _best_per_candidate(logits, len(voxels), fine.voxels)
        origin = origin[pick // (len(fine) // len(voxels))]
        voxels = fine.voxels[pick]
        n_hyps, passed = n_hyps + len(fine), passed + n_passed
    logit = logits[pick].astype(np.float64)
    n = len(pick)
    refined = StageResult(fine.centers[pick], np.broadcast_to(np.eye(3), (n, 3, 3)).copy(),
                          coarse.sizes[:1].repeat(n, 0), _sigmoid(logit), _log_sigmoid(logit),
                          logit, n_hyps, passed, coarse.seconds + time.perf_counter() - t0,
                          voxels=voxels)
    return refined, origin


def search_orientation(search: Search, position: StageResult) -> StageResult:
    """The orientation stage: the orientation set (mean size) around each position
    candidate, then ``orientation_refine`` of the best turned by half a step each, of
    which each keeps its best refinement before any second of one."""
    t0 = time.perf_counter()
    fv, params, model = search.fv, search.params, search.model
    n = len(position)
    rots = model.orientations.rotations
    hyps = expand(fv, position.centers, np.broadcast_to(rots, (n, *rots.shape)),
                  np.tile(model.mean_size, (n, 1)),
                  jitter_offsets(1.0, params.orientation_jitter) * search.step, search.device)
    base = np.repeat(position.chain, len(hyps) // n, axis=0)
    scored = search.score("orientation", "orientation", hyps, base, params.top_orientation)
    n_hyps, passed = len(hyps), scored.passed
    if params.orientation_refine:
        keep = scored.top[:params.orientation_refine]
        best, base = hyps.take(keep), base[keep]
        fine = model.orientations.refinements()
        hyps = expand(fv, best.centers, fine[None] @ best.rotations[:, None], best.sizes,
                      jitter_offsets(0.5, params.refine_jitter) * search.step, search.device)
        per = len(hyps) // len(keep)
        scored = search.score("orientation refine", "orientation", hyps,
                              np.repeat(base, per, axis=0), params.top_orientation,
                              np.arange(len(hyps)) // per)
        n_hyps, passed = n_hyps + len(hyps), passed + scored.passed
    return _result(hyps.take(scored.top), scored, n_hyps, passed, t0)


def search_scale(search: Search, orientation: StageResult) -> StageResult:
    """The scale stage: the size set around each (position, orientation) candidate."""
    t0 = time.perf_counter()
    sizes = search.model.sizes.sizes
    m = len(orientation)
    hyps = expand(search.fv, orientation.centers, orientation.rotations,
                  np.broadcast_to(sizes, (m, *sizes.shape)),
                  jitter_offsets(0.5, search.params.scale_jitter) * search.step, search.device)
    base = np.repeat(orientation.chain, len(hyps) // m, axis=0)
    scored = search.score("scale", "scale", hyps, base, search.params.top_scale)
    return _result(hyps.take(scored.top), scored, len(hyps), scored.passed, t0)


def _neighbourhoods(fv: FeatureVolume, voxels: np.ndarray, radius: int,
                    step: int = 1) -> np.ndarray:
    """For each voxel (K, 3), the voxels within ``radius`` steps of ``step`` voxels along
    every axis (identity first), kept inside the searchable part of the feature volume:
    (K * J, 3)."""
    r = np.arange(-radius, radius + 1)
    offsets = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    offsets = offsets[np.argsort(np.abs(offsets).sum(1), kind="stable")] * step
    hi = np.array(fv.data.shape) - fv.pad - 1
    return np.clip(voxels[:, None] + offsets[None], fv.pad, hi).reshape(-1, 3)


def _best_per_candidate(logits: np.ndarray, k: int, voxels: np.ndarray) -> np.ndarray:
    """Index (into the K * J neighbourhood hypotheses) of each candidate's best neighbour,
    best first; candidates that refine onto the same voxel are kept once."""
    ev = logits.reshape(k, -1)
    pick = np.arange(k) * ev.shape[1] + ev.argmax(1)
    pick = pick[np.argsort(-logits[pick], kind="stable")]
    _, first = np.unique(voxels[pick], axis=0, return_index=True)
    return pick[np.sort(first)]


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
    crowd out the others (see :func:`search_orientation`)."""
    k = min(k, len(logits))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    order = top_indices(logits, len(logits))
    leader = np.zeros(len(order), dtype=bool)
    leader[np.unique(groups[order], return_index=True)[1]] = True
    leaders = order[leader][:k]
    chosen = np.concatenate([leaders, order[~leader][:k - len(leaders)]])
    return chosen[np.lexsort((chosen, -logits[chosen]))]
