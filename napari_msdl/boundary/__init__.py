"""Segmentation after the box: shape space, boundary classifier along normals, deformation.

- :class:`ShapeSpace`: mean shape and PCA modes in box coordinates; ``project`` fits a
  world mesh with clamped coefficients.
- :func:`train_boundary`: the shape space and the SADNN boundary classifier (Algorithm 1)
  from ``(volume, pose, mesh)`` cases or a dataset, as a :class:`BoundaryModel`, which
  ``save``/``load`` into a model bundle folder.
- :func:`segment`: the mean shape placed by the box (Table II's initialisation),
  deformed along the normals onto the boundary, by the classifier or, for comparison, by
  the image gradient or intensity along the normal.
- :func:`mesh_error` and :func:`evaluate_segmentation`: Tables II and III.

The method, its parameters and the measured figures are in docs/boundary.md.
"""

from napari_msdl.boundary.classifier import ClassifierConfig, CompiledClassifier
from napari_msdl.boundary.deform import SCORERS, DeformParams, Segmentation, segment
from napari_msdl.boundary.evaluate import evaluate_segmentation, perturb_pose
from napari_msdl.boundary.features import PatchSpec
from napari_msdl.boundary.metrics import mesh_error, point_to_surface, summary
from napari_msdl.boundary.model import BoundaryModel
from napari_msdl.boundary.shape_space import ShapeFit, ShapeSpace, vertex_normals
from napari_msdl.boundary.train import BoundaryConfig, dataset_cases, train_boundary

__all__ = [
    "SCORERS",
    "BoundaryConfig",
    "BoundaryModel",
    "ClassifierConfig",
    "CompiledClassifier",
    "DeformParams",
    "PatchSpec",
    "Segmentation",
    "ShapeFit",
    "ShapeSpace",
    "dataset_cases",
    "evaluate_segmentation",
    "mesh_error",
    "perturb_pose",
    "point_to_surface",
    "segment",
    "summary",
    "train_boundary",
    "vertex_normals",
]
