"""Detection: position -> orientation -> scale, and the pose as a weighted mean.

Each stage scores its hypotheses with its cascade and main network, keeps the best
(``top_*`` of :class:`~napari_msdl.detector.model.SearchParams`) and hands them to the
next stage; the final pose is the score-weighted mean (:func:`~napari_msdl.geometry.mean_pose`)
of the ``average`` best scale-stage boxes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.detector.hypotheses import MIN_BOX_SUPPORT, jitter_offsets, position_voxels
from napari_msdl.detector.model import STAGES, DetectorModel
from napari_msdl.detector.stages import (
    PositionHypotheses,
    expand,
    top_indices,
    top_indices_per_group,
)
from napari_msdl.geometry import Pose, angles_from_rotation, mean_pose
from napari_msdl.volume.volume import Volume


@dataclass
class StageResult:
    """The candidates one stage kept (best first), and what it cost.

    ``scores`` are the stage's own probabilities; ``log_scores`` the log-probability of
    the whole chain so far; ``evidence`` the sum of the chain's logits (what the ranking
    uses, see :func:`detect`).
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


@dataclass
class Detection:
    """A detected valve box, with every stage's kept candidates and timings."""

    pose: Pose
    score: float
    stages: dict[str, StageResult]
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def corners(self) -> np.ndarray:
        """(8, 3) corners of the detected box, mm."""
        return self.pose.corners()

    def to_dict(self) -> dict[str, Any]:
        """OUT.json: pose, corners, score, timings, and per stage the kept candidates."""
        return {"pose": self.pose.to_dict(), "corners": self.corners.tolist(),
                "score": float(self.score), "timings": dict(self.timings),
                "hypotheses": {k: v.hypotheses for k, v in self.stages.items()},
                "device": self.device,
                "candidates": {k: v.to_dict() for k, v in self.stages.items()}}


def default_device() -> str:
    """``cuda`` when a GPU is available, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -60, 60)))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x.astype(np.float64))


def detect(volume: Volume | np.ndarray, model: DetectorModel | str | None = None, *,
           device: str | None = None, top_k: dict[str, int] | None = None,
           progress: ProgressCallback | None = None, **search: int) -> Detection:
    """Find the aortic valve box in a 3D volume.

    ``model`` is a :class:`DetectorModel`, a bundle path, or ``None`` for the bundled
    model. ``top_k`` maps stage names to how many candidates they keep (e.g.
    ``{"position": 60}``); other keywords override :class:`SearchParams` fields.
    ``progress(stage, done, total)`` is called per stage and per chunk of hypotheses;
    raising :class:`~napari_msdl._progress.Cancelled` from it stops detection.
    Raises ``ValueError`` for a volume that is not 3D, is constant or holds NaNs.
    """
    from napari_msdl.training.bundle import load_model

    if not isinstance(volume, Volume):
        volume = Volume(np.asarray(volume))
    volume.require_contrast("detection")
    if not isinstance(model, DetectorModel):
        model = load_model(model)
    for name in top_k or {}:
        if name not in STAGES:
            raise ValueError(f"top_k names stages {list(STAGES)}, got {name!r}")
    params = model.search.replace(**{f"top_{k}": v for k, v in (top_k or {}).items()}, **search)
    device = device or default_device()
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA GPU")
    report = progress or no_progress
    for nets in model.stages.values():
        nets.to(device)

    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    report("prepare", 0, 1)
    fv = model.feature_volume(volume)
    report("prepare", 1, 1)
    timings["prepare"] = time.perf_counter() - t0

    def run(name: str, hyps, base: np.ndarray, k: int, groups: np.ndarray | None = None):
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
        t = time.perf_counter()
        report(name, 0, len(hyps))
        logits, passed = model.stages[name.split()[0]].score(
            hyps.gather, len(hyps), params.chunk,
            lambda done, total: report(name, done, total))
        chain = base + np.stack([logits.astype(np.float64), _log_sigmoid(logits)], 1)
        top = (top_indices(chain[:, 0], k) if groups is None
               else top_indices_per_group(chain[:, 0], k, groups))
        return top, _sigmoid(logits[top]), chain[top], passed, t

    # position
    pos = PositionHypotheses(fv, position_voxels(fv, params.position_stride), device)
    if len(pos) == 0:
        raise ValueError(
            "the volume has no position whose valve box (the mean size, "
            f"{' x '.join(f'{v:.0f}' for v in model.mean_size)} mm) is at least "
            f"{MIN_BOX_SUPPORT:.0%} image data: is the volume smaller than a valve, or empty?")
    top, prob, pos_chain, passed, t = run("position", pos, np.zeros((len(pos), 2)),
                                          params.top_position)
    centers, n_pos = pos.centers[top], len(pos)
    if params.position_refine and params.position_stride > 1:
        fine = PositionHypotheses(fv, _neighbourhoods(fv, pos.voxels[top],
                                                      params.position_refine), device)
        logits, fine_passed = model.stages["position"].score(fine.gather, len(fine),
                                                             params.chunk)
        pick = _best_per_candidate(logits, len(top), fine.voxels)
        centers, logit = fine.centers[pick], logits[pick].astype(np.float64)
        prob, pos_chain = _sigmoid(logit), np.stack([logit, _log_sigmoid(logit)], 1)
        n_pos, passed = n_pos + len(fine), passed + fine_passed
    mean_size = model.mean_size
    n = len(centers)
    stages = {"position": StageResult(
        centers, np.broadcast_to(np.eye(3), (n, 3, 3)).copy(), np.tile(mean_size, (n, 1)),
        prob, pos_chain[:, 1], pos_chain[:, 0], n_pos, passed, time.perf_counter() - t)}
    step = fv.spacing * params.position_stride / 2

    # orientation: the set around each position candidate, then the best refined
    t = time.perf_counter()
    rots = model.orientations.rotations
    hyps = expand(fv, centers, np.broadcast_to(rots, (n, *rots.shape)),
                  np.tile(mean_size, (n, 1)),
                  jitter_offsets(1.0, params.orientation_jitter) * step, device)
    base = np.repeat(pos_chain, len(hyps) // n, axis=0)
    top, prob, chain, passed, _ = run("orientation", hyps, base, params.top_orientation)
    n_hyps = len(hyps)
    if params.orientation_refine:
        keep = top[:params.orientation_refine]
        best, base = hyps.take(keep), base[keep]
        fine = model.orientations.refinements()
        hyps = expand(fv, best.centers, fine[None] @ best.rotations[:, None], best.sizes,
                      jitter_offsets(0.5, params.refine_jitter) * step, device)
        per = len(hyps) // len(keep)
        base = np.repeat(base, per, axis=0)
        top, prob, chain, refined, _ = run("orientation refine", hyps, base,
                                          params.top_orientation, np.arange(len(hyps)) // per)
        n_hyps, passed = n_hyps + len(hyps), passed + refined
    kept = hyps.take(top)
    stages["orientation"] = StageResult(kept.centers, kept.rotations, kept.sizes, prob,
                                        chain[:, 1], chain[:, 0],
                                        n_hyps, passed, time.perf_counter() - t)

    # scale: the size set around each (position, orientation) candidate
    sizes = model.sizes.sizes
    m = len(kept)
    hyps = expand(fv, kept.centers, kept.rotations, np.broadcast_to(sizes, (m, *sizes.shape)),
                  jitter_offsets(0.5, params.scale_jitter) * step, device)
    base = np.repeat(chain, len(hyps) // m, axis=0)
    top, prob, chain, passed, t = run("scale", hyps, base, params.top_scale)
    kept = hyps.take(top)
    stages["scale"] = StageResult(kept.centers, kept.rotations, kept.sizes, prob,
                                  chain[:, 1], chain[:, 0],
                                  len(hyps), passed, time.perf_counter() - t)

    pose, score = _aggregate(stages["scale"], params.average, float(np.linalg.norm(step)))
    for name in STAGES:
        timings[name] = stages[name].seconds
    timings["total"] = time.perf_counter() - t0
    return Detection(pose=pose, score=score, stages=stages, timings=timings, device=device)


def _neighbourhoods(fv, voxels: np.ndarray, radius: int) -> np.ndarray:
    """For each voxel (K, 3), the voxels within ``radius`` along every axis (identity
    first), kept inside the searchable part of the feature volume: (K * J, 3)."""
    r = np.arange(-radius, radius + 1)
    offsets = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3)
    offsets = offsets[np.argsort(np.abs(offsets).sum(1), kind="stable")]
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


def _aggregate(final: StageResult, average: int, radius: float) -> tuple[Pose, float]:
    """The pose: the mean of the ``average`` best boxes, weighted by their posterior, over
    those whose center lies within ``2 * radius`` + a tenth of the box of the best one
    (so two separate modes are never blended). The score is the best box's
    p(T) p(R|T) p(S|T,R)."""
    poses = final.poses()[:average]
    logp = final.log_scores[:len(poses)]
    reach = 2 * radius + 0.1 * float(np.linalg.norm(final.sizes[0]))
    near = np.linalg.norm(final.centers[:len(poses)] - final.centers[0], axis=1) <= reach
    w = np.exp(logp[near] - logp[0])
    pose = mean_pose([p for p, ok in zip(poses, near, strict=True) if ok], w)
    return pose, float(np.exp(logp[0]))
