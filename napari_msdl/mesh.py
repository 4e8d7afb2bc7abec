"""Meshes: the one place that builds, reads and writes them.

Meshes are triangle meshes in physical mm (world coordinates, see
:mod:`napari_msdl.geometry`), held as ``trimesh.Trimesh`` built with ``process=False`` so
that the vertex order, which carries the valve's fixed topology, is never changed: no
merging, no reordering, no removal of unreferenced vertices. Files are PLY, STL or OBJ,
chosen by the extension (:data:`MESH_SUFFIXES`); writes are atomic.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from napari_msdl._io import OutputKind, atomic_path

if TYPE_CHECKING:
    import trimesh

MESH_SUFFIXES = (".ply", ".stl", ".obj")
"""The mesh file formats napari-msdl reads and writes (by extension, lower case)."""
MESH_OUTPUT = OutputKind("mesh file", suffixes=MESH_SUFFIXES)


def is_mesh_path(path: str | Path) -> bool:
    """True when ``path`` ends in one of :data:`MESH_SUFFIXES` (any case)."""
    return Path(path).suffix.lower() in MESH_SUFFIXES


def check_mesh_path(path: str | Path, what: str = "mesh file") -> Path:
    """``path`` as a Path; ``ValueError`` naming it unless it ends in a mesh suffix."""
    path = Path(path)
    if not is_mesh_path(path):
        raise ValueError(f"{what} {path} must end in {', '.join(MESH_SUFFIXES)}")
    return path


def make_trimesh(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    """A ``trimesh.Trimesh`` of ``vertices`` (V, 3) mm and ``faces`` (F, 3), vertex order
    kept exactly (``process=False``); ``ValueError`` for a malformed pair."""
    import trimesh

    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"mesh vertices must be a (V, 3) array with V >= 1, received shape "
                         f"{v.shape}")
    if (f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer)
            or (f.size and (f.min() < 0 or f.max() >= len(v)))):
        raise ValueError(f"mesh faces must be (F, 3) integer indices into {len(v)} vertices, "
                         f"received shape {f.shape} ({f.dtype})")
    return trimesh.Trimesh(vertices=v, faces=f.astype(np.int64), process=False)


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Read a mesh file (PLY/STL/OBJ) without merging or reordering vertices."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mesh file not found: {path}")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as e:  # trimesh raises many types for bad files
        raise ValueError(f"{path}: cannot read mesh: {e}") from e
    if len(mesh.vertices) == 0:
        raise ValueError(f"{path}: mesh has no vertices")
    if not np.all(np.isfinite(mesh.vertices)):
        raise ValueError(f"{path}: mesh vertices hold NaN or infinite values")
    return mesh


def save_mesh(mesh: trimesh.Trimesh, path: str | Path) -> Path:
    """Write a mesh atomically; the format follows the extension (.ply, .stl, .obj)."""
    path = check_mesh_path(path)
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=path.suffix.lower().lstrip("."))
    return path
