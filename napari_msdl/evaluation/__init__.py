"""Evaluation: the paper's Tables I-III, their per-case rows and one summary.

- Table I (:mod:`.detection`): position and corner error of the detected boxes;
- Tables II-III (:mod:`.segmentation`): mesh error of the initialisation, of the learned
  deformation and of the non-learned ones, from the same boxes;
- :func:`evaluate_bundle` (:mod:`.report`): all three for a bundle on a dataset, written
  as ``report.json`` and ``report.md``;
- :func:`summary` and :func:`mesh_error` (:mod:`.metrics`).
"""

from napari_msdl.evaluation.detection import (
    detection_row,
    evaluate_cases,
    summarize_detections,
)
from napari_msdl.evaluation.metrics import mesh_error, point_to_surface, summary
from napari_msdl.evaluation.report import evaluate_bundle, segmentation_tables, table
from napari_msdl.evaluation.segmentation import (
    evaluate_segmentation,
    perturb_pose,
    segmentation_row,
    summarize_segmentation,
)

__all__ = ["detection_row", "evaluate_bundle", "evaluate_cases", "evaluate_segmentation",
           "mesh_error", "perturb_pose", "point_to_surface", "segmentation_row",
           "segmentation_tables", "summarize_detections", "summarize_segmentation",
           "summary", "table"]
