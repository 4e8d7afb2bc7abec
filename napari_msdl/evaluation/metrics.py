"""The error measures of the tables: the mesh error (mm) of Tables II and III, and the
mean / median / std :func:`summary` every table reports (Table I's position and corner
errors are :func:`napari_msdl.geometry.position_error` and ``corner_error``).

``mesh_error(a, b)`` is the mean of (the mean distance from the vertices of ``a`` to the
surface of ``b``) and (the mean distance from the vertices of ``b`` to the surface of
``a``), DESIGN.md's "mean symmetric distance from the points of each mesh to the surface
of the other". Distances to the surface are exact (to the nearest triangle, not the
nearest vertex): a numba kernel visits every triangle for every point but skips, with one
bounding-sphere test, those farther than the best distance so far (which starts at the
nearest vertex, from a KD-tree), so only a handful get the exact point-triangle test.
"""

from __future__ import annotations

import numba
import numpy as np
from scipy.spatial import cKDTree


def _mesh_arrays(mesh) -> tuple[np.ndarray, np.ndarray]:
    """(vertices, faces) from a trimesh, or a (vertices, faces) pair."""
    if hasattr(mesh, "vertices") and hasattr(mesh, "faces"):
        v, f = mesh.vertices, mesh.faces
    else:
        v, f = mesh
    v = np.ascontiguousarray(v, dtype=np.float64)
    f = np.ascontiguousarray(f, dtype=np.int64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"mesh vertices must be (V, 3) with V >= 1, received {v.shape}")
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0 or f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"mesh faces must be (F, 3) indices into {len(v)} vertices, "
                         f"received shape {f.shape}")
    return v, f


def point_to_surface(points: np.ndarray, mesh) -> np.ndarray:
    """Exact distance (N,) from each point (N, 3) to the surface of ``mesh`` (a trimesh or
    a ``(vertices, faces)`` pair)."""
    v, f = _mesh_arrays(mesh)
    p = np.ascontiguousarray(points, dtype=np.float64).reshape(-1, 3)
    tri = np.ascontiguousarray(v[f])
    centroids = np.ascontiguousarray(tri.mean(axis=1))
    radii = np.linalg.norm(tri - centroids[:, None], axis=2).max(axis=1)
    upper, _ = cKDTree(v[np.unique(f)]).query(p)
    out = np.empty(len(p))
    _nearest_triangle(p, tri, centroids, radii, upper, out)
    return out


def mesh_error(a, b) -> float:
    """Mean symmetric point-to-surface distance between two meshes, mm."""
    va, _ = _mesh_arrays(a)
    vb, _ = _mesh_arrays(b)
    return 0.5 * float(point_to_surface(va, b).mean() + point_to_surface(vb, a).mean())


def summary(values) -> dict[str, float | None]:
    """Mean, median and (population) standard deviation, as the paper's tables give them,
    and the count ``n``; the statistics are None (JSON null) when there are no values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return {"mean": None, "median": None, "std": None, "n": 0}
    return {"mean": float(x.mean()), "median": float(np.median(x)), "std": float(x.std()),
            "n": int(x.size)}


@numba.njit(cache=True, inline="always")
def _segment_distance2(px, py, pz, ax, ay, az, bx, by, bz):  # pragma: no cover - compiled
    ex, ey, ez = bx - ax, by - ay, bz - az
    wx, wy, wz = px - ax, py - ay, pz - az
    den = ex * ex + ey * ey + ez * ez
    t = 0.0
    if den > 0.0:
        t = min(1.0, max(0.0, (wx * ex + wy * ey + wz * ez) / den))
    dx, dy, dz = wx - t * ex, wy - t * ey, wz - t * ez
    return dx * dx + dy * dy + dz * dz


@numba.njit(cache=True)
def _triangle_distance2(px, py, pz, t):  # pragma: no cover - compiled
    """Squared distance from p to triangle t (3, 3): the plane distance when p projects
    inside it, else the nearest edge (degenerate triangles: edges only)."""
    ax, ay, az = t[0, 0], t[0, 1], t[0, 2]
    bx, by, bz = t[1, 0], t[1, 1], t[1, 2]
    cx, cy, cz = t[2, 0], t[2, 1], t[2, 2]
    e0x, e0y, e0z = bx - ax, by - ay, bz - az
    e1x, e1y, e1z = cx - ax, cy - ay, cz - az
    nx, ny, nz = e0y * e1z - e0z * e1y, e0z * e1x - e0x * e1z, e0x * e1y - e0y * e1x
    nn = nx * nx + ny * ny + nz * nz
    wx, wy, wz = px - ax, py - ay, pz - az
    if nn > 1e-24:
        # barycentric coordinates (of e0, e1) of p's projection onto the plane
        beta = ((wy * e1z - wz * e1y) * nx + (wz * e1x - wx * e1z) * ny
                + (wx * e1y - wy * e1x) * nz) / nn
        gamma = ((e0y * wz - e0z * wy) * nx + (e0z * wx - e0x * wz) * ny
                 + (e0x * wy - e0y * wx) * nz) / nn
        if beta >= 0.0 and gamma >= 0.0 and beta + gamma <= 1.0:
            h = wx * nx + wy * ny + wz * nz
            return h * h / nn
    return min(_segment_distance2(px, py, pz, ax, ay, az, bx, by, bz),
               _segment_distance2(px, py, pz, bx, by, bz, cx, cy, cz),
               _segment_distance2(px, py, pz, cx, cy, cz, ax, ay, az))


@numba.njit(parallel=True, cache=True)
def _nearest_triangle(points, tri, centroids, radii, upper, out):  # pragma: no cover
    """out[i] = distance from point i to the nearest triangle; a triangle whose bounding
    sphere (centroid, radius) lies farther than the best distance so far is skipped."""
    for i in numba.prange(points.shape[0]):
        px, py, pz = points[i, 0], points[i, 1], points[i, 2]
        best = upper[i] * upper[i]
        bound = upper[i]
        for t in range(tri.shape[0]):
            dx = px - centroids[t, 0]
            dy = py - centroids[t, 1]
            dz = pz - centroids[t, 2]
            reach = bound + radii[t]
            if dx * dx + dy * dy + dz * dz > reach * reach:
                continue
            d2 = _triangle_distance2(px, py, pz, tri[t])
            if d2 < best:
                best = d2
                bound = np.sqrt(best)
        out[i] = np.sqrt(best)
