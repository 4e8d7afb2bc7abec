"""Tables II and III: mesh errors of the initialisation and of the deformed meshes.

:func:`evaluate_segmentation` runs, per case, the initialisation (mean shape in the box),
the learned deformation and the non-learned one (gradient along the normal) from the same
box, and reports each mesh error (:func:`~napari_msdl.evaluation.metrics.mesh_error`) per
case and as mean / median / std. The box is the one given in ``poses``, else the one the
detector finds with ``detector_model``, else the true one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from napari_msdl._progress import no_progress
from napari_msdl.boundary import BoundaryModel, Segmentation, segment
from napari_msdl.evaluation.metrics import mesh_error, summary
from napari_msdl.geometry import Pose, corner_error, position_error, rotation_matrices

TABLE3_LEARNED = "detection + mean shape + learned boundary deformation"
TABLE3_BASELINES = {
    "gradient": "detection + mean shape + gradient-along-normal deformation",
    "intensity": "detection + mean shape + intensity-ridge deformation",
}
"""Table III rows of the non-learned refinements (same loop, a different scorer)."""


def perturb_pose(pose: Pose, rng: np.random.Generator, center_mm: float = 1.0,
                 angle_deg: float = 4.0, size_fraction: float = 0.07) -> Pose:
    """A realistic detection error: the center moved by N(0, center_mm) per axis, the box
    turned by N(0, angle_deg) about each axis and each size scaled by
    1 + N(0, size_fraction). The defaults give ~1.6 mm mean position and ~3.1 mm mean
    corner error on phantom boxes, like the detector's target (Table I: 1.83 / 3.72)."""
    center = pose.center + rng.normal(0.0, center_mm, 3)
    turn = rotation_matrices(np.deg2rad(rng.normal(0.0, angle_deg, 3)))
    size = pose.size * (1.0 + rng.normal(0.0, size_fraction, 3))
    return Pose.from_rotation(center, turn @ pose.rotation, np.maximum(size, 1e-3))


def evaluate_segmentation(cases: Iterable[tuple[Any, Pose, Any]], boundary_model: BoundaryModel,
                          poses: Sequence[Pose] | None = None, detector_model=None, *,
                          baselines: Sequence[str] = ("gradient", "intensity"),
                          ids: Sequence[str] | None = None,
                          progress: Callable[[str, int, int], None] | None = None,
                          ) -> dict[str, Any]:
    """Mesh errors (mm) of every ``(volume, true pose, true mesh)`` case.

    Returns ``mesh_error_init``, ``mesh_error_final`` and, for each non-learned scorer
    in ``baselines`` (``"gradient"``, ``"intensity"``), ``mesh_error_<scorer>``, each as
    ``{"mean", "median", "std", "n"}``; ``table3`` (the rows compared, by name);
    ``improved`` (cases whose error the deformation lowered); ``deform_seconds``; and
    ``cases`` (per case: the errors, the box's position and corner errors, seconds).
    """
    unknown = set(baselines) - set(TABLE3_BASELINES)
    if unknown:
        raise ValueError(f"baselines must be among {sorted(TABLE3_BASELINES)}, received "
                         f"{sorted(unknown)}")
    progress = progress or no_progress
    rows: list[dict[str, Any]] = []
    for i, (volume, true_pose, mesh) in enumerate(cases):
        if poses is not None:
            if i >= len(poses):
                raise ValueError(f"poses has {len(poses)} entries but there are more cases")
            pose, source = poses[i], "given"
        elif detector_model is not None:
            from napari_msdl.detector import detect

            pose, source = detect(volume, detector_model).pose, "detected"
        else:
            pose, source = true_pose, "truth"
        rows.append(segmentation_row(volume, pose, true_pose, mesh, boundary_model,
                                     ids[i] if ids is not None else str(i), source,
                                     baselines))
        progress("segmentation", i + 1, i + 1)
    return summarize_segmentation(rows)


def true_mesh(mesh, boundary_model: BoundaryModel) -> tuple[np.ndarray, np.ndarray]:
    """``(vertices, faces)`` of a true mesh: its own faces when it has them (the mesh error
    is surface to surface, so a mesh of another topology than the model's is measured as
    well), else the model's (vertex arrays in the model's topology)."""
    v = np.asarray(getattr(mesh, "vertices", mesh), dtype=np.float64)
    own = getattr(mesh, "faces", None)
    if own is not None and not (np.shape(own) == boundary_model.faces.shape
                                and np.array_equal(own, boundary_model.faces)):
        return v, np.asarray(own, dtype=np.int64)
    if own is None:
        boundary_model.check_topology(v, "a true mesh given as vertices")
    return v, boundary_model.faces


def segmentation_row(volume, pose: Pose, true_pose: Pose, mesh, boundary_model: BoundaryModel,
                     case_id: str, source: str = "given",
                     baselines: Sequence[str] = (),
                     segmentation: Segmentation | None = None) -> dict[str, Any]:
    """One case of :func:`evaluate_segmentation`: segment from ``pose`` (or take
    ``segmentation``, already made from it) and measure against the true mesh (and with
    each scorer of ``baselines``)."""
    faces = boundary_model.faces
    truth = true_mesh(mesh, boundary_model)
    seg = segmentation if segmentation is not None else segment(volume, pose, boundary_model)
    row = {"id": case_id, "pose_source": source,
           "topology": "model" if truth[1] is faces else "other",
           "position_error": position_error(pose, true_pose),
           "corner_error": corner_error(pose, true_pose),
           "mesh_error_init": mesh_error((seg.initial, faces), truth),
           "mesh_error_final": mesh_error((seg.vertices, faces), truth),
           "deform_seconds": seg.seconds, "iterations": seg.iterations}
    box = seg.box()
    if box is not None:
        row["mesh_box_position_error"] = position_error(box, true_pose)
        row["mesh_box_corner_error"] = corner_error(box, true_pose)
    for scorer in baselines:
        g = segment(volume, pose, boundary_model, scorer=scorer)
        row[f"mesh_error_{scorer}"] = mesh_error((g.vertices, faces), truth)
    return row


def summarize_segmentation(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The report of :func:`evaluate_segmentation` from its per-case rows."""
    col = lambda k: [r[k] for r in rows if k in r]  # noqa: E731
    init, final = np.array(col("mesh_error_init")), np.array(col("mesh_error_final"))
    out: dict[str, Any] = {
        "n_cases": len(rows),
        "mesh_error_init": summary(init),
        "mesh_error_final": summary(final),
        "improved": int(np.sum(final < init)),
        "position_error": summary(col("position_error")),
        "corner_error": summary(col("corner_error")),
        "deform_seconds": summary(col("deform_seconds")),
        "table3": {TABLE3_LEARNED: summary(final)},
        "other_topology": sum(r.get("topology") == "other" for r in rows),
        "cases": rows,
    }
    for key in ("mesh_box_position_error", "mesh_box_corner_error"):
        if col(key):
            out[key] = summary(col(key))
    for scorer, row_name in TABLE3_BASELINES.items():
        if col(f"mesh_error_{scorer}"):
            out[f"mesh_error_{scorer}"] = summary(col(f"mesh_error_{scorer}"))
            out["table3"][row_name] = out[f"mesh_error_{scorer}"]
    return out
