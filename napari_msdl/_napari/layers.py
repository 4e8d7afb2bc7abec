"""Layer data tuples for volumes, poses and meshes, in napari world coordinates (mm).

Pure functions (no Qt, no viewer): readers, sample data and widgets all build their layers
here, so a pose or a mesh looks the same wherever it appears. A volume is shown with
``scale=spacing`` and ``translate=origin``, so the physical mm coordinates of poses and
meshes are world coordinates as they are.

napari does not cut 3D lines or surfaces in 2D slices, so meshes and boxes also get a
"2D" layer: the intersection segments with every slice plane along one axis, as a Vectors
layer (napari shows a vector in the slice that holds it), flagged as 2D-only so that it
hides itself in 3D, where it would cover the box and the mesh.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_msdl.geometry import Pose

if TYPE_CHECKING:
    import trimesh

    from napari_msdl.volume import Volume

LayerTuple = tuple[Any, dict[str, Any], str]
TWO_D_ONLY = "napari_msdl_2d_only"
"""Metadata key of layers meant for 2D views only (a mesh's cut in the slices): hidden in 3D
while the plugin's widgets are open (``widgets._layers.keep_2d_layers_in_2d``)."""
AUXILIARY = "napari_msdl_auxiliary"
"""Metadata key of the plugin's own auxiliary images (a sparsity pattern's heat map): they
are shown, but never offered as a volume to detect in or to annotate."""
AXIS_COLORS = np.array([[1.0, 0.2, 0.2, 1.0], [0.2, 1.0, 0.2, 1.0], [0.3, 0.5, 1.0, 1.0]])


def volume_layer(volume: Volume, name: str = "volume", **kwargs: Any) -> LayerTuple:
    """An Image layer placed in physical mm."""
    meta = {"name": name, "scale": tuple(volume.spacing), "translate": tuple(volume.origin),
            "colormap": "gray", "metadata": {"spacing": volume.spacing.tolist(),
                                              "origin": volume.origin.tolist()}}
    meta.update(kwargs)
    return volume.data, meta, "image"


def segments_to_vectors(segments: np.ndarray) -> np.ndarray:
    """(N, 2, 3) segment end points to napari Vectors data (start, displacement)."""
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 3)
    return np.stack([segments[:, 0], segments[:, 1] - segments[:, 0]], axis=1)


def box_layer(pose: Pose, name: str = "box", color: str = "yellow", width: float = 0.6,
              **kwargs: Any) -> LayerTuple:
    """The box as one Vectors layer (visible in 3D): its 12 edges in ``color`` and its x, y,
    z axes from the center, half the size long, in red, green and blue; the pose in the
    layer's metadata."""
    edges = segments_to_vectors(pose.edges())
    colors = np.concatenate([np.tile(np.asarray(_rgba(color)), (len(edges), 1)), AXIS_COLORS])
    meta = {"name": name, "edge_color": colors, "edge_width": width, "vector_style": "line",
            "metadata": {"pose": pose.to_dict()}}
    meta.update(kwargs)
    return np.concatenate([edges, pose.axis_vectors()]), meta, "vectors"


def _rgba(color: str) -> tuple[float, float, float, float]:
    from matplotlib.colors import to_rgba

    return to_rgba(color)


def box_mesh(pose: Pose) -> trimesh.Trimesh:
    """The box as a closed 12-triangle mesh in world mm (to cut it with slice planes)."""
    import trimesh

    return trimesh.creation.box(extents=(1.0, 1.0, 1.0), transform=pose.box_to_world())


def mesh_layer(mesh: trimesh.Trimesh, name: str = "mesh", colormap: str = "red",
               opacity: float = 0.6, **kwargs: Any) -> LayerTuple:
    """A Surface layer of a mesh in world mm (visible in 3D)."""
    data = (np.asarray(mesh.vertices, dtype=np.float32), np.asarray(mesh.faces, dtype=np.int64))
    meta = {"name": name, "colormap": colormap, "opacity": opacity, "blending": "translucent"}
    meta.update(kwargs)
    return data, meta, "surface"


def slice_positions(volume: Volume, axis: int = 0) -> np.ndarray:
    """World positions of the volume's slices along ``axis``."""
    return volume.origin[axis] + np.arange(volume.shape[axis]) * volume.spacing[axis]


def cut_segments(mesh: trimesh.Trimesh, axis: int, positions: np.ndarray) -> np.ndarray:
    """(N, 2, 3) segments where the mesh crosses the planes ``p[axis] = position``."""
    from trimesh.intersections import mesh_plane

    normal = np.zeros(3)
    normal[axis] = 1.0
    lo, hi = mesh.bounds[0, axis], mesh.bounds[1, axis]
    parts = []
    for pos in positions:
        if lo <= pos <= hi:
            seg = mesh_plane(mesh, plane_normal=normal, plane_origin=normal * pos)
            if len(seg):
                seg = np.array(seg, dtype=np.float64)
                seg[..., axis] = pos  # exactly in the slice, so napari shows it there
                parts.append(seg)
    return np.concatenate(parts) if parts else np.zeros((0, 2, 3))


def cut_layer(mesh: trimesh.Trimesh, positions: np.ndarray, axis: int = 0,
              name: str = "2D cut", color: str = "yellow", width: float = 0.5,
              **kwargs: Any) -> LayerTuple:
    """The mesh's cut in every slice along ``axis`` (a Vectors layer for 2D viewing only:
    flagged :data:`TWO_D_ONLY`, so the plugin's widgets hide it in 3D)."""
    meta = {"name": name, "edge_color": color, "edge_width": width, "vector_style": "line",
            "metadata": {"cut_axis": axis, TWO_D_ONLY: True}}
    meta.update(kwargs)
    return segments_to_vectors(cut_segments(mesh, axis, positions)), meta, "vectors"


def valve_layers(name: str, pose: Pose | None = None, mesh: trimesh.Trimesh | None = None,
                 volume: Volume | None = None, color: str = "cyan", axis: int = 0,
                 mesh_visible: bool = True) -> list[LayerTuple]:
    """A box and a mesh as one clear result, named ``"<name> box"`` and ``"<name> mesh"``
    (3D), with their cuts in the slices along ``axis`` (``"<name> box 2D"``, ``"<name>
    mesh 2D"``, 2D only, given the volume)."""
    layers = []
    if mesh is not None:
        layers.append(mesh_layer(mesh, name=f"{name} mesh", colormap=color, opacity=0.5,
                                 visible=mesh_visible))
    if pose is not None:
        layers.append(box_layer(pose, name=f"{name} box", color=color))
    if volume is not None:
        positions = slice_positions(volume, axis)
        if mesh is not None:
            layers.append(cut_layer(mesh, positions, axis, name=f"{name} mesh 2D", color=color,
                                    visible=mesh_visible))
        if pose is not None:
            layers.append(cut_layer(box_mesh(pose), positions, axis, name=f"{name} box 2D",
                                    color=color, opacity=0.7))
    return layers
