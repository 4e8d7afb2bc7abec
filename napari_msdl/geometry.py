"""The 9-parameter pose of the aortic valve box, its matrices, corners and error measures.

Convention (binding for the whole package, see DESIGN.md):

* Physical coordinates are millimetres in the volume's own axis order; the seed's
  x, y, z are array axes 0, 1, 2.
* A pose is a center ``c`` (mm), three angles ``(phi_x, phi_y, phi_z)`` (radians) and a
  size ``s`` (mm, the full edge lengths of the box).
* The world-to-box transform is exactly the seed's ``M = [S][R_x][R_y][R_z][T]`` with
  the seed's own matrices: ``T`` translates by ``-c``, ``S = diag(1/s)``, and note the
  sign of the seed's ``R_y`` (``-sin`` in row 0, ``+sin`` in row 2). ``M`` maps the box
  onto the unit cube ``[-1/2, 1/2]^3``; box-to-world is its inverse.
* Corner ``k`` of the box is the image of the unit cube's corner
  ``list(itertools.product((-0.5, 0.5), repeat=3))[k]``.

Batched helpers (``rotation_matrices``, ``box_to_world_points``) take numpy arrays or
torch tensors and return the same type, so the detector can transform many hypotheses
at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

UNIT_CORNERS = np.array(list(itertools.product((-0.5, 0.5), repeat=3)), dtype=np.float64)
"""The unit cube's 8 corners, in the order every corner array of the package uses."""

BOX_EDGES = np.array(
    [(a, b) for a in range(8) for b in range(a + 1, 8)
     if np.count_nonzero(UNIT_CORNERS[a] != UNIT_CORNERS[b]) == 1],
    dtype=np.int64,
)
"""The 12 edges of the box as pairs of corner indices."""


def _backend(x: Any):
    """Return (module, is_torch) for an array-like."""
    if type(x).__module__.startswith("torch"):
        import torch

        return torch, True
    return np, False


def translation_matrix(center: Sequence[float]) -> np.ndarray:
    """The seed's ``T``: a 4x4 translation by ``-center`` (moves the box center to 0)."""
    t = np.eye(4)
    t[:3, 3] = -np.asarray(center, dtype=np.float64)
    return t


def scale_matrix(size: Sequence[float]) -> np.ndarray:
    """The seed's ``S``: a 4x4 scaling by ``1/size`` (the box onto the unit cube)."""
    size = np.asarray(size, dtype=np.float64)
    return np.diag([*(1.0 / size), 1.0])


def rotation_x(phi: float) -> np.ndarray:
    """The seed's 4x4 ``R_x``."""
    c, s = np.cos(phi), np.sin(phi)
    return np.array([[1, 0, 0, 0], [0, c, -s, 0], [0, s, c, 0], [0, 0, 0, 1]], dtype=np.float64)


def rotation_y(phi: float) -> np.ndarray:
    """The seed's 4x4 ``R_y`` (``-sin`` in row 0, ``+sin`` in row 2, as the slide has it)."""
    c, s = np.cos(phi), np.sin(phi)
    return np.array([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, 1]], dtype=np.float64)


def rotation_z(phi: float) -> np.ndarray:
    """The seed's 4x4 ``R_z``."""
    c, s = np.cos(phi), np.sin(phi)
    return np.array([[c, -s, 0, 0], [s, c, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float64)


def rotation_matrices(angles):
    """``R = R_x R_y R_z`` (3x3) for angles of shape (3,) or (N, 3); numpy or torch.

    This is the rotation part of the world-to-box transform; its rows are the box's
    axes expressed in world coordinates.
    """
    xp, is_torch = _backend(angles)
    a = angles if is_torch else np.asarray(angles, dtype=np.float64)
    single = a.ndim == 1
    if single:
        a = a[None]
    if a.ndim != 2 or a.shape[-1] != 3:
        raise ValueError(f"angles must have shape (3,) or (N, 3), got {tuple(a.shape)}")
    cx, sx = xp.cos(a[:, 0]), xp.sin(a[:, 0])
    cy, sy = xp.cos(a[:, 1]), xp.sin(a[:, 1])
    cz, sz = xp.cos(a[:, 2]), xp.sin(a[:, 2])
    rows = [
        [cy * cz, -cy * sz, -sy],
        [cx * sz - sx * sy * cz, cx * cz + sx * sy * sz, -sx * cy],
        [sx * sz + cx * sy * cz, sx * cz - cx * sy * sz, cx * cy],
    ]
    r = xp.stack([xp.stack(row, -1) for row in rows], -2)
    return r[0] if single else r


def angles_from_rotation(r) -> np.ndarray:
    """Invert :func:`rotation_matrices`: the seed angles of a 3x3 (or (N,3,3)) rotation.

    ``phi_y`` is returned in ``[-pi/2, pi/2]``; at gimbal lock (``|phi_y| = pi/2``) the
    whole rotation about the shared axis is put into ``phi_x`` and ``phi_z = 0``.
    """
    r = np.asarray(r, dtype=np.float64)
    single = r.ndim == 2
    r = r[None] if single else r
    sy = np.clip(-r[:, 0, 2], -1.0, 1.0)
    phi_y = np.arcsin(sy)
    cy = np.sqrt(np.maximum(0.0, 1.0 - sy**2))
    ok = cy > 1e-9
    phi_x = np.where(ok, np.arctan2(-r[:, 1, 2], r[:, 2, 2]), np.arctan2(r[:, 2, 1], r[:, 1, 1]))
    phi_z = np.where(ok, np.arctan2(-r[:, 0, 1], r[:, 0, 0]), 0.0)
    out = np.stack([phi_x, phi_y, phi_z], -1)
    return out[0] if single else out


def project_to_rotation(m: np.ndarray) -> np.ndarray:
    """The rotation nearest to a 3x3 matrix (Frobenius), via SVD; used to average rotations."""
    u, _, vt = np.linalg.svd(np.asarray(m, dtype=np.float64))
    d = np.sign(np.linalg.det(u @ vt))
    return u @ np.diag([1.0, 1.0, d]) @ vt


def box_to_world_points(unit_points, centers, rotations, sizes):
    """Map points given in unit-box coordinates into world mm, for many boxes at once.

    ``unit_points`` (P, 3); ``centers`` and ``sizes`` (N, 3); ``rotations`` (N, 3, 3) as
    returned by :func:`rotation_matrices`. Returns (N, P, 3): ``c + R^T (s * u)``.
    Works on numpy arrays or torch tensors (all of one kind).
    """
    xp, _ = _backend(unit_points)
    scaled = unit_points[None, :, :] * sizes[:, None, :]
    return xp.einsum("npj,nji->npi", scaled, rotations) + centers[:, None, :]


POSE_LIMITS = {"center": 1e6, "angles": 1e3, "size": 1e5}
"""The largest magnitude of each pose parameter (mm, radians, mm): beyond any scanner's
field of view, so that a pose from a file can never overflow an error measure."""


@dataclass(frozen=True, eq=False)
class Pose:
    """A 9-parameter box: ``center`` (3, mm), ``angles`` (3, rad: phi_x, phi_y, phi_z),
    ``size`` (3, mm, full edge lengths). See the module docstring for the convention."""

    center: np.ndarray
    angles: np.ndarray
    size: np.ndarray

    def __init__(self, center: Sequence[float], angles: Sequence[float], size: Sequence[float]):
        for name, value in (("center", center), ("angles", angles), ("size", size)):
            try:
                arr = np.array(value, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as e:
                raise ValueError(f"Pose {name} must be 3 numbers, got {value!r:.80}") from e
            if arr.shape != (3,):
                raise ValueError(f"Pose {name} must have 3 values, got shape {np.shape(value)}")
            if not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > POSE_LIMITS[name]):
                raise ValueError(f"Pose {name} must be finite and at most "
                                 f"{POSE_LIMITS[name]:g} in magnitude, got {arr.tolist()}")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if np.any(self.size <= 0):
            raise ValueError(f"Pose size must be positive (mm), got {self.size.tolist()}")

    def __repr__(self) -> str:
        f = lambda a: "[" + ", ".join(f"{v:.4g}" for v in a) + "]"  # noqa: E731
        return f"Pose(center={f(self.center)}, angles={f(self.angles)}, size={f(self.size)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pose):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k))
                   for k in ("center", "angles", "size"))

    def allclose(self, other: Pose, atol: float = 1e-9) -> bool:
        """True when all nine parameters agree within ``atol``."""
        return all(np.allclose(getattr(self, k), getattr(other, k), atol=atol, rtol=0)
                   for k in ("center", "angles", "size"))

    @property
    def rotation(self) -> np.ndarray:
        """``R_x R_y R_z`` (3x3): rows are the box axes in world coordinates."""
        return rotation_matrices(self.angles)

    @property
    def axes(self) -> np.ndarray:
        """(3, 3) unit vectors of the box's x, y, z axes in world coordinates (rows)."""
        return self.rotation.copy()

    def world_to_box(self) -> np.ndarray:
        """The seed's ``M = S R_x R_y R_z T`` (4x4): world mm to unit-box coordinates."""
        a = self.angles
        return (scale_matrix(self.size) @ rotation_x(a[0]) @ rotation_y(a[1])
                @ rotation_z(a[2]) @ translation_matrix(self.center))

    def box_to_world(self) -> np.ndarray:
        """Inverse of :meth:`world_to_box`, in closed form: ``T^-1 R^T S^-1``."""
        m = np.eye(4)
        m[:3, :3] = self.rotation.T * self.size[None, :]
        m[:3, 3] = self.center
        return m

    def to_box(self, points) -> np.ndarray:
        """World points (..., 3) in mm to unit-box coordinates."""
        p = np.asarray(points, dtype=np.float64)
        return ((p - self.center) @ self.rotation.T) / self.size

    def to_world(self, points) -> np.ndarray:
        """Unit-box points (..., 3) to world mm."""
        u = np.asarray(points, dtype=np.float64)
        return (u * self.size) @ self.rotation + self.center

    def corners(self) -> np.ndarray:
        """(8, 3) corners in world mm, ordered as :data:`UNIT_CORNERS`."""
        return self.to_world(UNIT_CORNERS)

    def edges(self) -> np.ndarray:
        """(12, 2, 3) world coordinates of the box's 12 edges (for line drawing)."""
        return self.corners()[BOX_EDGES]

    def axis_vectors(self) -> np.ndarray:
        """(3, 2, 3) napari Vectors data: from the center along each box axis, half the size."""
        starts = np.repeat(self.center[None], 3, axis=0)
        return np.stack([starts, self.axes * (self.size[:, None] / 2)], axis=1)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready ``{"center": [...], "angles": [...], "size": [...]}``."""
        return {k: [float(v) for v in getattr(self, k)] for k in ("center", "angles", "size")}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Pose:
        """Build from the JSON form; raises ``ValueError`` naming a missing or unknown key."""
        from napari_msdl._io import check_keys

        check_keys(d, ("center", "angles", "size"), "pose")
        try:
            return cls(center=d["center"], angles=d["angles"], size=d["size"])
        except KeyError as e:
            raise ValueError(f"pose needs center, angles and size; missing {e}") from e

    @classmethod
    def from_rotation(cls, center, rotation, size) -> Pose:
        """Build from a 3x3 rotation (rows = box axes in world) instead of angles."""
        return cls(center=center, angles=angles_from_rotation(rotation), size=size)

    @classmethod
    def from_vector(cls, v: Sequence[float]) -> Pose:
        """Build from the 9-vector ``[center, angles, size]``."""
        v = np.asarray(v, dtype=np.float64).reshape(-1)
        if v.shape != (9,):
            raise ValueError(f"a pose vector has 9 values, got shape {v.shape}")
        return cls(center=v[:3], angles=v[3:6], size=v[6:])

    def to_vector(self) -> np.ndarray:
        """The 9-vector ``[center, angles, size]``."""
        return np.concatenate([self.center, self.angles, self.size])


def mean_pose(poses: Sequence[Pose], weights: Sequence[float] | None = None) -> Pose:
    """Weighted mean of poses: centers and sizes averaged linearly, rotations averaged as
    matrices and projected back onto SO(3) (robust to angle wrap-around)."""
    if len(poses) == 0:
        raise ValueError("mean_pose needs at least one pose, received 0")
    w = np.ones(len(poses)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(poses),) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(poses)} non-negative values with a positive sum")
    w = w / w.sum()
    center = sum(wi * p.center for wi, p in zip(w, poses, strict=True))
    size = sum(wi * p.size for wi, p in zip(w, poses, strict=True))
    rot = project_to_rotation(sum(wi * p.rotation for wi, p in zip(w, poses, strict=True)))
    return Pose.from_rotation(center, rot, size)


def position_error(a: Pose, b: Pose) -> float:
    """Distance between the two box centers, mm (Table I's position error)."""
    return float(np.linalg.norm(a.center - b.center))


def corner_error(a: Pose, b: Pose) -> float:
    """Mean distance between the 8 corresponding corners, mm (Table I's corner error)."""
    return float(np.linalg.norm(a.corners() - b.corners(), axis=1).mean())
