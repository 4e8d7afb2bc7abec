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


class TopologyMismatch(ValueError):
    """A mesh whose topology is not the boundary model's (another vertex count or other
    faces): the model cannot learn from it, nor measure it vertex by vertex."""


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

    def check_topology(self, mesh, what: str) -> None:
        """Raise :class:`TopologyMismatch` (naming ``what``) unless ``mesh`` (a trimesh, or
        (V, 3) vertices) has this model's vertex count and, when it has faces, its faces."""
        faces = self.faces
        vertices = np.asarray(getattr(mesh, "vertices", mesh))
        mesh_faces = getattr(mesh, "faces", None)
        same = vertices.ndim == 2 and len(vertices) == self.shape_space.n_vertices and (
            mesh_faces is None or (np.shape(mesh_faces) == faces.shape
                                   and np.array_equal(mesh_faces, faces)))
        if not same:
            got = f"{len(vertices)} vertices" + (
                "" if mesh_faces is None else f" and {len(mesh_faces)} faces")
            raise TopologyMismatch(
                f"{what}: the mesh has {got}, the model's topology {self.shape_space.n_vertices}"
                f" vertices and {len(faces)} faces")
