"""napari writer contribution: Surface layers to PLY, STL or OBJ in world mm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_surface(path: str, data: Any, meta: dict[str, Any]) -> list[str]:
    """Write a Surface layer's mesh; vertices are taken to world mm through its scale and
    translate, so a mesh drawn over a volume is saved where it is seen."""
    from napari_msdl.mesh import is_mesh_path, make_trimesh, save_mesh

    vertices, faces = np.asarray(data[0], dtype=np.float64), np.asarray(data[1])
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"only 3D surfaces can be written, got vertices of shape {vertices.shape}")
    scale = np.asarray(meta.get("scale", (1, 1, 1)), dtype=np.float64)[-3:]
    translate = np.asarray(meta.get("translate", (0, 0, 0)), dtype=np.float64)[-3:]
    target = Path(path)
    if not is_mesh_path(target):
        target = target.with_suffix(".ply")
    save_mesh(make_trimesh(vertices * scale + translate, faces), target)
    return [str(target)]
