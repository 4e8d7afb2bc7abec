"""The whole job on one volume: the 9-parameter box, verified by segmentation when the
bundle has a boundary model, then the valve mesh deformed onto the wall.

:func:`find_valve` is what the Detect valve widget, ``napari-msdl detect`` and
``napari-msdl evaluate`` call; the model is a :class:`~napari_msdl.bundle.ValveModel`
(:func:`~napari_msdl.bundle.load_bundle`) or a bundle folder.

Verification by segmentation: the detector's box is segmented, and the mesh's boundary
evidence (:func:`~napari_msdl.boundary.boundary_evidence`) measured. A valve scores high;
when the score is under :data:`VERIFY_BELOW` the detector may have found a look-alike, so
the best boxes at the other places the position stage found are searched
(:func:`~napari_msdl.detector.other_modes`), the :data:`VERIFY_OTHERS` the detector is
surest of are segmented too, and the answer with the best :func:`verification_score` is
kept. The rule and its figures: docs/detector.md,
``benchmarks/verify_candidates.py``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.bundle import ValveModel, load_bundle

if TYPE_CHECKING:
    from napari_msdl.boundary import Segmentation
    from napari_msdl.detector import Detection
    from napari_msdl.volume import Volume

VERIFY_BELOW = 0.8
"""Boundary evidence under which the other places are searched and verified."""

VERIFY_OTHERS = 2
"""How many of the other places are segmented and weighed: those whose best box has the
highest detector evidence, if above 0 (a box the detector rejects is not an answer)."""

DETECTOR_WEIGHT = 0.02
"""Weight of the detector's evidence (sum of logits, clipped to [0, DETECTOR_CLIP]) in the
verification score, per unit of logit."""

DETECTOR_CLIP = 40.0
"""Detector evidence beyond which a box counts as surely a valve-like place."""


def verification_score(boundary_evidence: float, detector_evidence: float) -> float:
    """How surely an answer is the valve: its mesh's boundary evidence plus
    :data:`DETECTOR_WEIGHT` times its detector evidence, clipped to
    [0, :data:`DETECTOR_CLIP`] (a box the detector barely accepts loses to one it is sure
    of when the meshes look alike; one it is sure of cannot outvote a clearer mesh)."""
    return float(boundary_evidence
                 + DETECTOR_WEIGHT * np.clip(detector_evidence, 0.0, DETECTOR_CLIP))


def places_to_weigh(detector_evidence: list[float]) -> list[int]:
    """Which of the other places verification segments: the :data:`VERIFY_OTHERS` whose
    best box has the highest detector evidence, if above 0; surest first."""
    order = np.argsort(np.asarray(detector_evidence, dtype=np.float64), kind="stable")[::-1]
    return [int(i) for i in order if detector_evidence[i] > 0][:VERIFY_OTHERS]


@dataclass
class Answer:
    """One candidate answer of verification: the detection, its mesh and its evidences."""

    detection: Detection
    segmentation: Segmentation
    boundary_evidence: float

    @property
    def detector_evidence(self) -> float:
        return self.detection.evidence

    @property
    def score(self) -> float:
        return verification_score(self.boundary_evidence, self.detector_evidence)

    def to_dict(self) -> dict[str, Any]:
        return {"pose": self.detection.pose.to_dict(),
                "detector_evidence": self.detector_evidence,
                "boundary_evidence": self.boundary_evidence, "score": self.score}


@dataclass
class Verification:
    """What verification saw: the answers (the detector's first, then those of the other
    places that were weighed), which one was kept, how many other places were searched
    (0 unless the first scored under :data:`VERIFY_BELOW`), and the seconds it added to
    detection."""

    answers: list[Answer]
    chosen: int
    seconds: float
    places: int = 0

    @property
    def searched(self) -> bool:
        """Whether the other places were searched."""
        return self.places > 0

    def summary(self) -> str:
        """What verification did, in one line (Detect valve's status, ``detect``'s output)."""
        first = self.answers[0]
        if not self.searched:
            return f"verified: boundary evidence {first.boundary_evidence:.2f}"
        kept = ("kept the detector's box" if self.chosen == 0 else "kept another place "
                f"(evidence {self.answers[self.chosen].boundary_evidence:.2f})")
        return (f"verified: boundary evidence {first.boundary_evidence:.2f}, searched "
                f"{self.places} other places, weighed {len(self.answers) - 1}; {kept}"
                f" ({self.seconds:.2f} s)")

    def to_dict(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "searched": self.searched, "places": self.places,
                "threshold": VERIFY_BELOW, "seconds": self.seconds,
                "answers": [a.to_dict() for a in self.answers]}


@dataclass
class ValveResult:
    """The detection and, when a boundary model was available, the segmentation and the
    verification."""

    detection: Detection
    segmentation: Segmentation | None = None
    verification: Verification | None = field(default=None)

    @property
    def seconds(self) -> float:
        """Seconds to the verified box: detection, plus the first mesh and the search of
        other places when verified."""
        extra = 0.0
        if self.verification is not None:
            extra = self.verification.seconds + self.verification.answers[0].segmentation.seconds
        return float(self.detection.timings["total"] + extra)

    def to_dict(self) -> dict[str, Any]:
        """The detection's JSON, plus the mesh's timing, vertex count and (with the
        annotation topology) the box derived from the mesh when segmented, and the
        verification when there was one."""
        doc = self.detection.to_dict()
        if self.segmentation is not None:
            doc["timings"]["boundary"] = float(self.segmentation.seconds)
            doc["mesh"] = {"vertices": int(len(self.segmentation.vertices)),
                           "faces": int(len(self.segmentation.faces)),
                           "iterations": self.segmentation.iterations}
            box = self.segmentation.box()
            if box is not None:
                doc["mesh"]["pose"] = box.to_dict()
        if self.verification is not None:
            doc["timings"]["verify"] = float(self.verification.seconds)
            doc["verification"] = self.verification.to_dict()
        return doc


def find_valve(volume: Volume, model: ValveModel | str | Path | None = None, *,
               segment_mesh: bool = True, verify: bool = True, device: str | None = None,
               progress: ProgressCallback | None = None) -> ValveResult:
    """Detect the valve box in ``volume``, verify it by segmentation (``verify``, when
    the model has a boundary model; see the module's docstring), then return the mesh of
    the kept answer if ``segment_mesh``.

    ``model``: a loaded bundle, a bundle folder, or None for the bundled model.
    """
    from napari_msdl.detector import detect

    progress = progress or no_progress
    if not isinstance(model, ValveModel):
        model = load_bundle(model)
    detection = detect(volume, model.detector, device=device, progress=progress)
    if model.boundary is None or not (segment_mesh or verify):
        detection.search = None
        return ValveResult(detection)
    from napari_msdl.boundary import segment

    first = segment(volume, detection.pose, model.boundary, progress=progress)
    verification = None
    if verify:
        verification = verify_detection(volume, model, detection, first, progress)
        kept = verification.answers[verification.chosen]
        # the detector's work is the first detection's; what the others cost is verification's
        detection = replace(kept.detection, timings=dict(detection.timings))
        first = kept.segmentation
        for answer in verification.answers:  # none holds on to the feature volume
            answer.detection.search = None
    detection.search = None
    return ValveResult(detection, first if segment_mesh else None, verification)


def verify_detection(volume: Volume, model: ValveModel, detection: Detection,
                     segmentation: Segmentation,
                     progress: ProgressCallback | None = None) -> Verification:
    """Verification by segmentation of ``detection`` (segmented as ``segmentation``): its
    boundary evidence, and when under :data:`VERIFY_BELOW` the answers of the
    :data:`VERIFY_OTHERS` other places the detector is surest of; the one with the best
    :func:`verification_score` is kept (the first on a tie)."""
    from napari_msdl.boundary import boundary_evidence, segment
    from napari_msdl.detector import other_modes

    if model.boundary is None:
        raise ValueError("verification needs a bundle with a boundary model")
    progress = progress or no_progress
    t0 = time.perf_counter()

    def weigh(det: Detection, seg: Segmentation) -> Answer:
        return Answer(det, seg, boundary_evidence(volume, seg.vertices, det.pose,
                                                  model.boundary))
    answers = [weigh(detection, segmentation)]
    places = 0
    if answers[0].boundary_evidence < VERIFY_BELOW:
        progress("verify", 0, 1)
        others = other_modes(detection)
        places = len(others)
        weighed = [others[i] for i in places_to_weigh([o.evidence for o in others])]
        for n, other in enumerate(weighed):
            progress("verify", n, len(weighed))
            seg = segment(volume, other.pose, model.boundary, progress=progress)
            answers.append(weigh(other, seg))
        progress("verify", 1, 1)
    chosen = int(np.argmax([a.score for a in answers]))
    return Verification(answers, chosen, time.perf_counter() - t0, places)
