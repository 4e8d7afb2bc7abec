"""Table I: position and corner error of detected boxes, per case and summarised."""

from __future__ import annotations

from typing import Any

from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.boundary import Segmentation
from napari_msdl.bundle import ValveModel
from napari_msdl.dataset import Case
from napari_msdl.detector import DetectorModel, detect
from napari_msdl.evaluation.metrics import summary
from napari_msdl.geometry import corner_error, position_error
from napari_msdl.pipeline import find_valve


def detection_row(model: DetectorModel | ValveModel, case: Case, volume,
                  device: str | None = None) -> dict[str, Any]:
    """One row of Table I: detect in ``volume`` (the case's image, already read) and
    measure the box against the case's pose. A bundle detects as
    :func:`~napari_msdl.pipeline.find_valve` does (verified by segmentation when it has
    a boundary model; ``seconds`` then counts the verification); a detector alone, as
    :func:`~napari_msdl.detector.detect`."""
    return detected_row(model, case, volume, device)[0]


def detected_row(model: DetectorModel | ValveModel, case: Case, volume,
                 device: str | None = None, verify: bool = True
                 ) -> tuple[dict[str, Any], Segmentation | None]:
    """:func:`detection_row` (``verify``: False for a bundle's boxes unverified), and the
    mesh of the kept box when the bundle made one."""
    segmentation = verification = None
    if isinstance(model, ValveModel):
        result = find_valve(volume, model, device=device, verify=verify)
        det, seconds = result.detection, result.seconds
        segmentation, verification = result.segmentation, result.verification
    else:
        det = detect(volume, model, device=device)
        det.search = None
        seconds = det.timings["total"]
    row = {"id": case.id, "position_error": position_error(det.pose, case.pose),
           "corner_error": corner_error(det.pose, case.pose),
           "seconds": seconds, "score": det.score, "pose": det.pose.to_dict()}
    if verification is not None:
        row["verification"] = {"searched": verification.searched,
                               "chosen": verification.chosen,
                               "evidence": verification.answers[0].boundary_evidence}
    return row, segmentation


FAILURE_MM = 10.0
"""A detection whose box center is more than this far from the truth (mm) is a failure:
the valve was lost (found elsewhere), not found imprecisely; the paper's errors have a
standard deviation of about 1.3 mm, so no correct detection comes near it."""


def failures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The lost valves among per-case rows: their count, the cases and their ids."""
    lost = [r["id"] for r in rows if not r["position_error"] <= FAILURE_MM]
    return {"count": len(lost), "of": len(rows), "threshold_mm": FAILURE_MM, "ids": lost}


def failure_line(report: dict[str, Any]) -> str:
    """The failure count of a detection summary as one sentence."""
    f = report["failures"]
    ids = f" ({', '.join(f['ids'][:8])}{', ...' if len(f['ids']) > 8 else ''})" if f["ids"] \
        else ""
    return (f"failures (position error > {f['threshold_mm']:g} mm): {f['count']} of "
            f"{f['of']}{ids}")


def summarize_detections(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Table I's summaries of per-case rows (and the failure count), with the rows."""
    return {"position_error": summary([r["position_error"] for r in rows]),
            "corner_error": summary([r["corner_error"] for r in rows]),
            "seconds": summary([r["seconds"] for r in rows]), "failures": failures(rows),
            "cases": rows}


def annotated(cases: list[Case]) -> list[Case]:
    """The cases that have a pose; ``ValueError`` when none has."""
    cases = [c for c in cases if c.pose is not None]
    if not cases:
        raise ValueError("evaluation needs annotated cases (with a pose), got none")
    return cases


def evaluate_cases(model: DetectorModel | ValveModel, cases: list[Case], device: str | None = None,
                   progress: ProgressCallback | None = None,
                   label: str = "evaluate") -> dict[str, Any]:
    """Detect each annotated case (as :func:`detection_row` does); per-case errors and
    seconds, and their summaries."""
    progress = progress or no_progress
    cases = annotated(cases)
    rows = []
    progress(label, 0, len(cases))
    for n, case in enumerate(cases):
        rows.append(detection_row(model, case, case.load_volume(), device))
        progress(label, n + 1, len(cases))
    return summarize_detections(rows)
