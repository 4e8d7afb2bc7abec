"""The boundary model in memory: shape space, boundary classifier and deformation defaults.

It is stored in a model bundle beside the detector (:mod:`napari_msdl.bundle`), which
also holds the card saying how it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from napari_msdl.boundary.deform import DeformParams
from napari_msdl.boundary.features import PatchSpec
from napari_msdl.boundary.shape_space import ShapeSpace
from napari_msdl.sparse import SADNN

if TYPE_CHECKING:
    import trimesh


@dataclass(eq=False)
class BoundaryModel:
    """Everything the segmentation needs after the box: the shape space, the boundary
    classifier with its patch grid and the deformation defaults."""

    shape_space: ShapeSpace
    classifier: SADNN
    patch: PatchSpec
    deform: DeformParams = field(default_factory=DeformParams)

    def __post_init__(self) -> None:
        if self.classifier.config.n_inputs != self.patch.n_inputs:
            raise ValueError(f"the classifier reads {self.classifier.config.n_inputs} inputs "
                             f"but the patch has {self.patch.n_inputs}")

    @property
    def faces(self) -> np.ndarray:
        return self.shape_space.faces

    def mesh(self, vertices: np.ndarray) -> trimesh.Trimesh:
        """A ``trimesh.Trimesh`` of vertices with this topology."""
        from napari_msdl.mesh import make_trimesh

        return make_trimesh(vertices, self.faces)
