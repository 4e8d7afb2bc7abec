"""The aortic valve's mesh: its fixed topology, its landmarks and the box rule.

Every valve mesh napari-msdl makes, reads, edits or trains on shares one topology
(:data:`TOPOLOGY`): the same vertex count and order, so a shape space can be learned from
them and a box derived from their landmarks. The phantom generator builds its meshes on it;
the boundary model, the mesh editor and the dataset writer use the landmarks and
:func:`pose_from_mesh` (the annotation's box rule).

Valve-local terms: ``z`` runs along the root axis from the left ventricular outflow tract
(LVOT) towards the ascending aorta; the annulus is the plane of the three hinge nadirs;
commissure 0 lies on the local ``x`` axis, and sinus ``k`` (and leaflet ``k``) spans the
angles between commissure ``k`` and commissure ``k + 1``.

Topology: the root is a grid of ``ROOT_ROWS x N_THETA`` vertices (row-major, the theta
seam stitched); row 0 is the bottom of the LVOT, :data:`ANNULUS_ROW` the annulus,
:data:`COMMISSURE_ROW` the commissure height, :data:`STJ_ROW` the sinotubular junction
(STJ) and the last row the top of the aortic segment. Column ``20 k`` lies on commissure
``k``, column ``20 k + 10`` on the nadir of sinus ``k``. Then follow three leaflet grids of
``LEAFLET_NU x LEAFLET_NV`` vertices (``u`` from commissure ``k`` to ``k + 1``, ``v`` from
the hinge line to the free edge; index ``u * NV + v``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from napari_msdl.geometry import Pose

if TYPE_CHECKING:
    import trimesh

N_PER_SINUS = 20
N_THETA = 3 * N_PER_SINUS
ROW_SEGMENTS = (4, 10, 2, 4)  # intervals: LVOT, annulus->commissure, ->STJ, ->aorta top
ROOT_ROWS = sum(ROW_SEGMENTS) + 1
ANNULUS_ROW = ROW_SEGMENTS[0]
COMMISSURE_ROW = ANNULUS_ROW + ROW_SEGMENTS[1]
STJ_ROW = COMMISSURE_ROW + ROW_SEGMENTS[2]
LEAFLET_NU = 21
LEAFLET_NV = 9


@dataclass(frozen=True, eq=False)
class ValveTopology:
    """Vertex index sets and faces shared by every valve mesh."""

    n_vertices: int
    faces: np.ndarray
    root: np.ndarray
    leaflets: tuple[np.ndarray, np.ndarray, np.ndarray]
    annulus_ring: np.ndarray
    stj_ring: np.ndarray
    commissures: np.ndarray
    nadirs: np.ndarray
    valve: np.ndarray
    """Root rows annulus..STJ plus all leaflet vertices: what the box encloses."""

    def root_index(self, row: int, column: int) -> int:
        """Vertex index of the root grid vertex (row, column)."""
        return row * N_THETA + column % N_THETA

    def matches(self, vertices: np.ndarray) -> bool:
        """True when ``vertices`` is a (``n_vertices``, 3) array: a mesh of this topology."""
        return np.shape(vertices) == (self.n_vertices, 3)


def _grid_faces(n_rows: int, n_cols: int, offset: int, wrap: bool) -> np.ndarray:
    cols = n_cols if wrap else n_cols - 1
    r, c = np.meshgrid(np.arange(n_rows - 1), np.arange(cols), indexing="ij")
    a = r * n_cols + c
    b = r * n_cols + (c + 1) % n_cols
    a2, b2 = a + n_cols, b + n_cols
    tri = np.concatenate([np.stack([a, b, b2], -1), np.stack([a, b2, a2], -1)], axis=-1)
    return tri.reshape(-1, 3) + offset


def _build_topology() -> ValveTopology:
    n_root = ROOT_ROWS * N_THETA
    n_leaf = LEAFLET_NU * LEAFLET_NV
    faces = [_grid_faces(ROOT_ROWS, N_THETA, 0, wrap=True)]
    leaflets = []
    for k in range(3):
        start = n_root + k * n_leaf
        leaflets.append(np.arange(start, start + n_leaf))
        faces.append(_grid_faces(LEAFLET_NU, LEAFLET_NV, start, wrap=False))
    cols = np.arange(3) * N_PER_SINUS
    valve_rows = np.arange(ANNULUS_ROW * N_THETA, (STJ_ROW + 1) * N_THETA)
    return ValveTopology(
        n_vertices=n_root + 3 * n_leaf,
        faces=np.concatenate(faces).astype(np.int64),
        root=np.arange(n_root),
        leaflets=tuple(leaflets),
        annulus_ring=ANNULUS_ROW * N_THETA + np.arange(N_THETA),
        stj_ring=STJ_ROW * N_THETA + np.arange(N_THETA),
        commissures=COMMISSURE_ROW * N_THETA + cols,
        nadirs=ANNULUS_ROW * N_THETA + cols + N_PER_SINUS // 2,
        valve=np.concatenate([valve_rows, *leaflets]),
    )


TOPOLOGY = _build_topology()


def check_vertices(vertices) -> np.ndarray:
    """``vertices`` as a finite float64 (``TOPOLOGY.n_vertices``, 3) array, else
    ``ValueError`` saying what was received."""
    v = np.asarray(vertices, dtype=np.float64)
    if not TOPOLOGY.matches(v):
        raise ValueError(f"a valve mesh has {TOPOLOGY.n_vertices} vertices (N, 3), "
                         f"got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("valve mesh vertices must be finite")
    return v


def valve_mesh(vertices: np.ndarray) -> trimesh.Trimesh:
    """A ``trimesh.Trimesh`` of the valve with :data:`TOPOLOGY`'s faces."""
    from napari_msdl.mesh import make_trimesh

    return make_trimesh(check_vertices(vertices), TOPOLOGY.faces)


def pose_from_mesh(vertices) -> Pose:
    """The 9-parameter box of a valve mesh with :data:`TOPOLOGY`, from its landmarks.

    ``a``, ``s``: centroids of the annulus-ring and STJ-ring vertices. Box z axis:
    ``(s - a) / |s - a|``; box x axis: from the centre towards commissure 0, made
    orthogonal to z; y = z cross x. Centre: ``(a + s) / 2``. Size: twice the largest
    absolute coordinate, along each box axis, of the root vertices from the annulus row
    to the STJ row and of all leaflet vertices (no margin), so the box is symmetric about
    the centre and encloses that part of the valve.
    """
    v = check_vertices(vertices)
    a = v[TOPOLOGY.annulus_ring].mean(axis=0)
    s = v[TOPOLOGY.stj_ring].mean(axis=0)
    z = s - a
    if np.linalg.norm(z) < 1e-6:
        raise ValueError("annulus and STJ ring centroids coincide: not a valve mesh")
    z = z / np.linalg.norm(z)
    center = 0.5 * (a + s)
    x = v[TOPOLOGY.commissures[0]] - center
    x = x - np.dot(x, z) * z
    if np.linalg.norm(x) < 1e-6:
        raise ValueError("commissure 0 lies on the root axis: not a valve mesh")
    x = x / np.linalg.norm(x)
    rotation = np.stack([x, np.cross(z, x), z])
    local = (v[TOPOLOGY.valve] - center) @ rotation.T
    size = 2.0 * np.abs(local).max(axis=0)
    return Pose.from_rotation(center, rotation, size)
