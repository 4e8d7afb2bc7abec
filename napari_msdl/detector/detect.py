"""Detection: position -> orientation -> scale, and the pose as a weighted mean.

:func:`detect` resamples the volume once (the feature volume), runs the three stages of
:mod:`napari_msdl.detector.stages`, each on the candidates the previous one kept, and
returns the score-weighted mean (:func:`~napari_msdl.geometry.mean_pose`) of the
``average`` best scale-stage boxes, with every stage's candidates and timings.

The orientation and scale stages keep their best few boxes, which in practice all lie in
one place: a look-alike that wins the position stage takes every slot. :func:`other_modes`
searches the other places that the position stage's pool holds, one detection each, so
that a later check (verification by segmentation, :func:`napari_msdl.pipeline.find_valve`)
can choose among distinct answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from napari_msdl._io import OutputKind, read_json
from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.detector.model import STAGES, DetectorModel
from napari_msdl.detector.stages import (
    Search,
    StageResult,
    search_orientation,
    search_position,
    search_scale,
)
from napari_msdl.geometry import Pose, mean_pose
from napari_msdl.volume.volume import Volume


@dataclass
class Detection:
    """A detected valve box, with every stage's kept candidates and timings."""

    pose: Pose
    score: float
    stages: dict[str, StageResult]
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"
    pool: StageResult | None = field(default=None, repr=False)
    search: Search | None = field(default=None, repr=False)

    @property
    def evidence(self) -> float:
        """The detector's evidence for its best box: the chain's sum of logits (what the
        ranking uses, and what verification weighs)."""
        return float(self.stages["scale"].evidence[0])

    @property
    def corners(self) -> np.ndarray:
        """(8, 3) corners of the detected box, mm."""
        return self.pose.corners()

    def to_dict(self) -> dict[str, Any]:
        """The detection JSON (docs/formats.md): pose, corners, score, timings, and per
        stage the kept candidates."""
        return {"pose": self.pose.to_dict(), "corners": self.corners.tolist(),
                "score": float(self.score), "timings": dict(self.timings),
                "hypotheses": {k: v.hypotheses for k, v in self.stages.items()},
                "device": self.device,
                "candidates": {k: v.to_dict() for k, v in self.stages.items()}}


def is_detection_json(path) -> bool:
    """True when the file at ``path`` is a detection JSON (what a writer of one may
    replace)."""
    try:
        doc = read_json(path, "detection JSON")
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and {"pose", "corners", "score"} <= set(doc)


DETECTION_OUTPUT = OutputKind("detection JSON", suffixes=(".json",), recognise=is_detection_json)


def default_device() -> str:
    """``cuda`` when a GPU is available, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def detect(volume: Volume | np.ndarray, model: DetectorModel, *, device: str | None = None,
           top_k: dict[str, int] | None = None, progress: ProgressCallback | None = None,
           **search: int) -> Detection:
    """Find the aortic valve box in a 3D volume with a detector ``model`` (the
    ``detector`` of :func:`napari_msdl.bundle.load_bundle`).

    ``top_k`` maps stage names to how many candidates they keep (e.g.
    ``{"position": 60}``); other keywords override :class:`SearchParams` fields.
    ``progress(stage, done, total)`` is called per stage and per chunk of hypotheses;
    raising :class:`~napari_msdl._progress.Cancelled` from it stops detection.
    Raises ``ValueError`` for a volume that is not 3D, is constant or holds NaNs.
    """
    if not isinstance(model, DetectorModel):
        raise TypeError(f"detect() needs a DetectorModel (load_bundle(path).detector), got "
                        f"{type(model).__name__}")
    if not isinstance(volume, Volume):
        volume = Volume(np.asarray(volume))
    volume.require_contrast("detection")
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

    t0 = time.perf_counter()
    report("prepare", 0, 1)
    fv = model.feature_volume(volume)
    report("prepare", 1, 1)
    timings = {"prepare": time.perf_counter() - t0}
    search_ = Search(fv, model, params, device, report)
    position, pool = search_position(search_)
    detection = _box_stages(search_, position, pool)
    detection.timings = {**timings, **detection.timings,
                         "total": time.perf_counter() - t0}
    return detection


def _box_stages(search: Search, position: StageResult, pool: StageResult) -> Detection:
    """Orientation and scale from the position candidates ``position``; the pose."""
    stages = {"position": position}
    stages["orientation"] = search_orientation(search, position)
    stages["scale"] = search_scale(search, stages["orientation"])
    pose, score = _aggregate(stages["scale"], search.params.average,
                             float(np.linalg.norm(search.step)))
    return Detection(pose=pose, score=score, stages=stages,
                     timings={name: stages[name].seconds for name in STAGES},
                     device=search.device, pool=pool, search=search)


MODE_RADIUS_MM = 10.0
"""Position candidates farther than this (mm) from a place's best one are another place
(the failure threshold of :mod:`napari_msdl.evaluation.detection` is the same distance:
two answers this far apart cannot both be right)."""


def other_modes(detection: Detection, n: int | None = None) -> list[Detection]:
    """Up to ``n`` (default: the search's ``modes``) detections at other places: the
    position pool's candidates farther than :data:`MODE_RADIUS_MM` from ``detection``'s
    box, grouped greedily (the best left starts a place; every one within the radius of
    it joins), each place's best ``top_position`` expanded through orientation (with
    ``mode_refine`` refinements) and scale. Best place (by position evidence) first; each
    detection's ``timings`` hold what it cost."""
    if detection.search is None or detection.pool is None:
        raise ValueError("other_modes() needs a detection made by detect() in this session")
    pool = detection.pool
    search = replace(detection.search, params=detection.search.params.replace(
        orientation_refine=detection.search.params.mode_refine))
    n = search.params.modes if n is None else n
    left = np.linalg.norm(pool.centers - detection.pose.center, axis=1) > MODE_RADIUS_MM
    found: list[Detection] = []
    while len(found) < n and left.any():
        t0 = time.perf_counter()
        lead = int(np.flatnonzero(left)[0])
        near = left & (np.linalg.norm(pool.centers - pool.centers[lead], axis=1)
                       <= MODE_RADIUS_MM)
        left &= ~near
        members = np.flatnonzero(near)[:search.params.top_position]
        found.append(_box_stages(search, pool.take(members), pool))
        found[-1].timings["total"] = time.perf_counter() - t0
    return found


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
