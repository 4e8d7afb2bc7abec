"""Layer tuples for learned sampling patterns (no Qt): points, heat map, grid outline.

Points are sized in grid cells (0.8 to 1.8 cells by |weight|) and shown in 2D within their
size of the slice, shrinking with the distance (napari's ``rescale_spherical`` projection),
so a slice shows the slab of grid points around it.

Placement: with no pose, the 18^3 grid's own coordinates (grid point (i, j, k) at
(i, j, k)); with a pose, the grid is placed in that box in world mm exactly as the
detector samples it (unit offset ``(idx + 0.5)/18 - 0.5`` through ``box_to_world``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from napari_msdl._napari.layers import AUXILIARY, LayerTuple, segments_to_vectors
from napari_msdl.geometry import BOX_EDGES, UNIT_CORNERS, Pose
from napari_msdl.sparse.inspect import first_sparse_layer, pattern_points
from napari_msdl.sparse.layers import cube_side


def grid_to_world(n: int, pose: Pose | None) -> np.ndarray:
    """4x4 affine from grid indices to the placement's coordinates."""
    if pose is None:
        return np.eye(4)
    to_unit = np.diag([1.0 / n, 1.0 / n, 1.0 / n, 1.0])
    to_unit[:3, 3] = 0.5 / n - 0.5
    return pose.box_to_world() @ to_unit


def _place(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    return points @ affine[:3, :3].T + affine[:3, 3]


def pattern_layers(net: nn.Module, filter_index: int | None, pose: Pose | None,
                   name: str) -> list[LayerTuple]:
    """Points of the pattern, the usage heat map and the grid's outline."""
    layer = first_sparse_layer(net)
    n = cube_side(layer.in_features)
    affine = grid_to_world(n, pose)
    pts = pattern_points(layer, filter_index)
    coords = _place(pts.ijk.astype(np.float64), affine)
    mm_per_cell = float(np.cbrt(abs(np.linalg.det(affine[:3, :3]))))
    if filter_index is None:
        title = f"{name}: all filters"
        features = {"filters": pts.filters.astype(float), "sum_abs_weight": pts.weights}
        color = {"face_color": "filters", "face_colormap": "turbo"}
        size = 0.8 + 0.6 * pts.weights / max(pts.weights.max(), 1e-12)
    else:
        title = f"{name}: filter {filter_index}"
        features = {"weight": pts.weights}
        lim = max(float(np.abs(pts.weights).max()), 1e-12) if len(pts.weights) else 1.0
        color = {"face_color": "weight", "face_colormap": "PiYG",
                 "face_contrast_limits": (-lim, lim)}
        size = 0.8 + 1.0 * np.abs(pts.weights) / lim
    points = (coords, {"name": title, "features": features, "size": size * mm_per_cell,
                       "border_width": 0.05, "border_color": "black",
                       "projection_mode": "rescale_spherical", **color,
                       "metadata": {"pattern_of": name, "filter": filter_index}}, "points")
    heat = (layer.usage_counts().astype(np.float32),
            {"name": f"{name}: filters per grid point", "affine": affine, "colormap": "inferno",
             "opacity": 0.5, "blending": "additive", "visible": False,
             "metadata": {AUXILIARY: True}}, "image")
    corners = _place((UNIT_CORNERS + 0.5) * n - 0.5, affine)
    outline = (segments_to_vectors(corners[BOX_EDGES]),
               {"name": f"{name}: grid outline", "edge_color": "white", "edge_width":
                0.1 * mm_per_cell, "vector_style": "line"}, "vectors")
    return [heat, outline, points]


def training_curves(card: Any, network: str) -> dict[str, list] | None:
    """The Algorithm 1 curves (round, sparsity, train and validation loss) that training
    stored in a bundle's card for the network named ``network``, or None."""
    entry = (card.detector.figures.get("networks") or {}).get(network)
    if isinstance(entry, dict) and isinstance(entry.get("curves"), dict):
        return entry["curves"]
    return None
