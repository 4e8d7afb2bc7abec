"""Detection: position -> orientation -> scale, and the pose as a weighted mean.

:func:`detect` resamples the volume once (the feature volume), runs the three stages of
:mod:`napari_msdl.detector.stages`, each on the candidates the previous one kept, and
returns the score-weighted mean (:func:`~napari_msdl.geometry.mean_pose`) of the
``average`` best scale-stage boxes, with every stage's candidates and timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
    stages = {"position": search_position(search_)}
    stages["orientation"] = search_orientation(search_, stages["position"])
    stages["scale"] = search_scale(search_, stages["orientation"])
    pose, score = _aggregate(stages["scale"], params.average,
                             float(np.linalg.norm(search_.step)))
    for name in STAGES:
        timings[name] = stages[name].seconds
    timings["total"] = time.perf_counter() - t0
    return Detection(pose=pose, score=score, stages=stages, timings=timings, device=device)


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
