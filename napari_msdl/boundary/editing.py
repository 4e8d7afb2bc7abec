"""Correcting a valve mesh by hand: drag a vertex, snap to the shape space, undo, save.

:class:`MeshEditor` holds the mesh being edited (world mm, like every mesh in the package)
and a history of its vertex arrays. A drag moves one vertex exactly to its target and
pulls its neighbourhood with Gaussian weights ``exp(-d^2 / (2 r^2))`` of the Euclidean
distance ``d`` to the dragged vertex's position before the drag; vertices farther than
``3 r`` do not move. Saving writes the mesh (PLY) and the box derived from it by the
annotation's landmark rule (:func:`napari_msdl.valve.pose_from_mesh`) into a dataset
folder; it never changes the editor, so a failed save loses nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_msdl.geometry import Pose
from napari_msdl.valve import pose_from_mesh

if TYPE_CHECKING:
    from napari_msdl.boundary.shape_space import ShapeSpace
    from napari_msdl.dataset import Case
    from napari_msdl.volume import Volume

CUTOFF = 3.0
"""Vertices farther than ``CUTOFF * radius_mm`` from the dragged vertex do not move."""


class MeshEditor:
    """An editable mesh (vertices (V, 3) in world mm, faces (F, 3)) with undo and redo."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray,
                 shape_space: ShapeSpace | None = None, pose: Pose | None = None,
                 radius_mm: float = 4.0):
        v = np.array(vertices, dtype=np.float64)
        f = np.array(faces, dtype=np.int64)
        if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0 or not np.all(np.isfinite(v)):
            raise ValueError(f"vertices must be a finite (V, 3) array, received shape {v.shape}")
        if f.ndim != 2 or f.shape[1] != 3 or (f.size and (f.min() < 0 or f.max() >= len(v))):
            raise ValueError(f"faces must be (F, 3) indices into {len(v)} vertices, received "
                             f"shape {f.shape}")
        if shape_space is not None and shape_space.n_vertices != len(v):
            raise ValueError(f"the shape space has {shape_space.n_vertices} vertices, the mesh "
                             f"{len(v)}")
        self.faces = f
        self.shape_space = shape_space
        self.snap_pose = pose
        self.radius_mm = radius_mm
        self._current = v
        self._undo: list[np.ndarray] = []
        self._redo: list[np.ndarray] = []

    @property
    def radius_mm(self) -> float:
        return self._radius

    @radius_mm.setter
    def radius_mm(self, value: float) -> None:
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"radius_mm must be a positive number, received {value}")
        self._radius = float(value)

    @property
    def vertices(self) -> np.ndarray:
        """A copy of the current vertices."""
        return self._current.copy()

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def weights(self, index: int) -> np.ndarray:
        """(V,) drag weights around vertex ``index``: 1 there, 0 beyond ``CUTOFF`` radii."""
        d2 = np.sum((self._current - self._current[index]) ** 2, axis=1)
        w = np.exp(-d2 / (2.0 * self._radius**2))
        w[d2 > (CUTOFF * self._radius) ** 2] = 0.0
        w[index] = 1.0
        return w

    def drag(self, index: int, new_position: np.ndarray, continue_last: bool = False) -> np.ndarray:
        """Move vertex ``index`` to ``new_position`` and pull its neighbourhood with it.

        With ``continue_last`` the drag replaces the previous edit (one mouse gesture, many
        moves: one undo step), starting again from the mesh before that edit.
        """
        n = len(self._current)
        if not isinstance(index, (int, np.integer)) or not 0 <= index < n:
            raise ValueError(f"index must be a vertex index in 0..{n - 1}, received {index!r}")
        target = np.asarray(new_position, dtype=np.float64).reshape(-1)
        if target.shape != (3,) or not np.all(np.isfinite(target)):
            raise ValueError(f"new_position must be 3 finite numbers, received {new_position!r}")
        if continue_last and self._undo:
            self._current = self._undo.pop()
        w = self.weights(int(index))
        moved = self._current + w[:, None] * (target - self._current[index])
        moved[index] = target
        self._push(moved)
        return self.vertices

    def snap(self, clamp: float = 3.0) -> np.ndarray:
        """Project the current mesh onto the shape space (an undoable edit).

        Uses the editor's ``pose`` if one was given, else the box derived from the current
        mesh.
        """
        if self.shape_space is None:
            raise ValueError("no shape space: load a boundary model to snap the mesh")
        pose = self.snap_pose if self.snap_pose is not None else self.pose()
        fit = self.shape_space.project(self._current, pose, clamp=clamp)
        self._push(np.asarray(fit.vertices, dtype=np.float64))
        return self.vertices

    def undo(self) -> np.ndarray:
        """Go back one edit (exactly); ``ValueError`` if there is none."""
        if not self._undo:
            raise ValueError("nothing to undo")
        self._redo.append(self._current)
        self._current = self._undo.pop()
        return self.vertices

    def redo(self) -> np.ndarray:
        """Re-apply the last undone edit; ``ValueError`` if there is none."""
        if not self._redo:
            raise ValueError("nothing to redo")
        self._undo.append(self._current)
        self._current = self._redo.pop()
        return self.vertices

    def _push(self, vertices: np.ndarray) -> None:
        self._undo.append(self._current)
        self._redo.clear()
        self._current = vertices

    def pose(self) -> Pose:
        """The box of the current mesh by the annotation's landmark rule."""
        return pose_from_mesh(self._current)

    def mesh(self):
        """The current mesh as a ``trimesh.Trimesh`` (process=False, vertex order kept)."""
        from napari_msdl.mesh import make_trimesh

        return make_trimesh(self.vertices, self.faces)

    def save_annotation(self, dataset_folder: str | Path, case_id: str,
                        volume: Volume | None = None) -> Case:
        """Add or update case ``case_id`` in the dataset: the mesh (PLY) and its box.

        The dataset is created if the folder has no ``dataset.json``; a new case needs
        ``volume`` (given for an existing case, it replaces the image). Files are written
        atomically and the manifest last, so a failure leaves the dataset as it was; the
        editor is never changed.
        """
        from napari_msdl._io import check_output
        from napari_msdl.dataset import (
            DATASET_OUTPUT,
            MANIFEST,
            Dataset,
            check_case_id,
            create_dataset,
            put_case,
        )

        folder = Path(dataset_folder)
        where = f"cannot save case {case_id!r} into {folder}"
        try:
            check_case_id(case_id)
            check_output(folder, DATASET_OUTPUT, what="dataset folder")
            pose = self.pose()
            exists = (folder / MANIFEST).is_file()
            dataset = Dataset.open(folder, check_files=False) if exists else None
            if volume is None and (dataset is None or case_id not in {c.id for c in dataset}):
                raise ValueError(f"case {case_id!r} is new: it needs the image (a volume)")
            if dataset is None:
                dataset = create_dataset(folder, exist_ok=True)
            return put_case(dataset, case_id, volume=volume, pose=pose, mesh=self.mesh())
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from e
        except OSError as e:
            raise OSError(f"{where}: {e}") from e
