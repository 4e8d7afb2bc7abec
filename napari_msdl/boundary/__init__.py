"""Segmentation after the box: shape space, boundary classifier along normals, deformation,
and correcting a mesh by hand. Inference only (training is in :mod:`napari_msdl.training`).

- :class:`ShapeSpace`: mean shape and PCA modes in box coordinates; ``project`` fits a
  world mesh with clamped coefficients.
- :class:`BoundaryModel`: the shape space, the SADNN boundary classifier with its patch
  grid, and the deformation defaults (stored in a model bundle, :mod:`napari_msdl.bundle`).
- :func:`segment`: the mean shape placed by the box (Table II's initialisation),
  deformed along the normals onto the boundary, by the classifier or, for comparison, by
  the image gradient or intensity along the normal.
- :class:`MeshEditor`: drag, snap to the shape space, undo, save as an annotation.

The method, its parameters and the measured figures are in docs/boundary.md.
"""

from napari_msdl.boundary.deform import (
    SCORERS,
    DeformParams,
    Segmentation,
    boundary_evidence,
    segment,
)
from napari_msdl.boundary.editing import MeshEditor
from napari_msdl.boundary.features import PatchSpec
from napari_msdl.boundary.model import BoundaryModel, TopologyMismatch
from napari_msdl.boundary.shape_space import ShapeFit, ShapeSpace, vertex_normals

__all__ = [
    "SCORERS",
    "BoundaryModel",
    "DeformParams",
    "MeshEditor",
    "PatchSpec",
    "Segmentation",
    "ShapeFit",
    "ShapeSpace",
    "TopologyMismatch",
    "boundary_evidence",
    "segment",
    "vertex_normals",
]
