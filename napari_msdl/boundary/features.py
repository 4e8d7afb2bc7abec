"""Patches aligned with the surface normal: the boundary classifier's input.

A patch at a surface point ``x`` with unit normal ``n`` and tangents ``t1, t2`` is the
volume read (trilinearly, :func:`napari_msdl.volume.sample`) on the grid
``x + a t1 + b t2 + c n``, with ``a, b`` on ``n_tangent`` points ``tangent_step_mm``
apart and ``c`` on ``n_normal`` points ``normal_step_mm`` apart, both centred on 0. The
flat input index is ``(ia * n_tangent + ib) * n_normal + ic``: each tangent position
holds one profile along the normal.

The deformation scores every vertex at ``2J + 1`` candidate positions ``x + j h n``
(``|j| <= J``, ``h`` the candidate step, which divides ``normal_step_mm``). All those
patches lie on one longer profile per tangent position, so :func:`candidate_patches`
samples each profile once (one batched gather for all vertices) and cuts the patches out
of it, reading only the inputs the sparse network uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba
import numpy as np

from napari_msdl._io import check_number, check_whole, dataclass_from_dict
from napari_msdl.volume import Volume, sample


@dataclass(frozen=True)
class PatchSpec:
    """The patch grid: ``n_normal`` x ``n_tangent``^2 samples (mm steps)."""

    n_normal: int = 15
    normal_step_mm: float = 1.0
    n_tangent: int = 3
    tangent_step_mm: float = 2.0

    def __post_init__(self) -> None:
        check_whole("n_normal", self.n_normal, 1, 101)
        check_whole("n_tangent", self.n_tangent, 1, 25)
        check_number("normal_step_mm", self.normal_step_mm, 0.0, 20.0, low_open=True)
        check_number("tangent_step_mm", self.tangent_step_mm, 0.0, 20.0, low_open=True)
        if self.n_normal % 2 == 0 or self.n_tangent % 2 == 0:
            raise ValueError(f"n_normal and n_tangent must be odd and >= 1, received "
                             f"{self.n_normal} and {self.n_tangent}")
        if self.normal_step_mm <= 0 or self.tangent_step_mm <= 0:
            raise ValueError(f"patch steps must be > 0 mm, received {self.normal_step_mm} "
                             f"and {self.tangent_step_mm}")

    @property
    def n_inputs(self) -> int:
        return self.n_tangent**2 * self.n_normal

    def tangent_offsets(self) -> np.ndarray:
        """(n_tangent^2, 2) tangent coordinates (a, b) in mm, in input order."""
        r = (np.arange(self.n_tangent) - self.n_tangent // 2) * self.tangent_step_mm
        a, b = np.meshgrid(r, r, indexing="ij")
        return np.stack([a.ravel(), b.ravel()], axis=1)

    def normal_offsets(self) -> np.ndarray:
        """(n_normal,) offsets along the normal in mm."""
        return (np.arange(self.n_normal) - self.n_normal // 2) * self.normal_step_mm

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PatchSpec:
        return dataclass_from_dict(cls, d, "patch")


def tangent_frames(normals: np.ndarray, reference: np.ndarray | None = None,
                   roll: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two unit tangents (V, 3) each, orthogonal to the unit ``normals`` (V, 3).

    ``t1`` is ``reference`` (a direction, default the z axis) made orthogonal to the
    normal, or the x axis where the normal is within ~25 degrees of it; ``t2 = n x t1``.
    ``roll`` (V,) radians turns the pair about the normal (training augmentation).
    """
    n = np.asarray(normals, dtype=np.float64)
    ref = np.array([0.0, 0.0, 1.0]) if reference is None else np.asarray(reference, float)
    ref = np.broadcast_to(ref / np.linalg.norm(ref), n.shape)
    alt = np.broadcast_to(np.array([1.0, 0.0, 0.0]), n.shape)
    r = np.where(np.abs(np.sum(n * ref, axis=1, keepdims=True)) > 0.9, alt, ref)
    t1 = r - np.sum(r * n, axis=1, keepdims=True) * n
    t1 /= np.maximum(np.linalg.norm(t1, axis=1, keepdims=True), 1e-12)
    t2 = np.cross(n, t1)
    if roll is not None:
        c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
        t1, t2 = c * t1 + s * t2, c * t2 - s * t1
    return t1, t2


def sample_profiles(volume: Volume, points: np.ndarray, normals: np.ndarray,
                    t1: np.ndarray, t2: np.ndarray, tangent_uv: np.ndarray,
                    offsets: np.ndarray) -> np.ndarray:
    """Profiles (N, T, Q): the volume at ``points + u t1 + v t2 + o n`` for the T tangent
    positions ``tangent_uv`` (T, 2) mm and the Q normal ``offsets`` (mm): one gather."""
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    n, t, q = len(points), len(tangent_uv), len(offsets)
    grid = np.empty((n * t * q, 3), dtype=np.float32)
    _profile_points(f32(points), f32(normals), f32(t1), f32(t2), f32(tangent_uv), f32(offsets),
                    grid)
    return sample(volume, grid).reshape(n, t, q)


def sample_patches(volume: Volume, points: np.ndarray, normals: np.ndarray,
                   spec: PatchSpec, t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """Full patches (N, spec.n_inputs) float32 centred on ``points`` (training)."""
    prof = sample_profiles(volume, points, normals, t1, t2, spec.tangent_offsets(),
                           spec.normal_offsets())
    return prof.reshape(len(points), spec.n_inputs)


def candidate_patches(volume: Volume, vertices: np.ndarray, normals: np.ndarray,
                      spec: PatchSpec, t1: np.ndarray, t2: np.ndarray, half: int,
                      step_mm: float, columns: np.ndarray | None = None) -> np.ndarray:
    """Patches (V, 2 half + 1, K) at the candidates ``vertices + j step_mm normals``,
    ``j = -half..half``, restricted to the input ``columns`` (default all, K = n_inputs).

    ``step_mm`` must divide ``spec.normal_step_mm``; each vertex's profiles are sampled
    once, on the tangent positions the columns use, and the patches are cut out of them.
    """
    m = spec.normal_step_mm / step_mm
    if half < 0 or step_mm <= 0 or abs(m - round(m)) > 1e-6:
        raise ValueError(f"the candidate step ({step_mm} mm) must divide the patch's normal "
                         f"step ({spec.normal_step_mm} mm), and half >= 0 (got {half})")
    m = round(m)
    cols = np.arange(spec.n_inputs) if columns is None else np.asarray(columns, np.int64)
    t_of, k_of = np.divmod(cols, spec.n_normal)
    rows, t_pos = np.unique(t_of, return_inverse=True)
    pn = spec.n_normal // 2
    reach = half + m * pn
    offsets = np.arange(-reach, reach + 1) * step_mm
    prof = sample_profiles(volume, vertices, normals, t1, t2, spec.tangent_offsets()[rows],
                           offsets)
    start = (reach - half + m * (k_of - pn)).astype(np.int64)
    out = np.empty((len(vertices), 2 * half + 1, len(cols)), dtype=np.float32)
    _cut_patches(prof, t_pos.astype(np.int64), start, out)
    return out


@numba.njit(cache=True, boundscheck=False)
def _profile_points(points, normals, t1, t2, uv, offsets, out):  # pragma: no cover
    """out[(i * T + t) * Q + q] = points[i] + uv[t, 0] t1[i] + uv[t, 1] t2[i] + offsets[q]
    normals[i]."""
    n_t, n_q = uv.shape[0], offsets.shape[0]
    for i in range(points.shape[0]):
        for t in range(n_t):
            bx = points[i, 0] + uv[t, 0] * t1[i, 0] + uv[t, 1] * t2[i, 0]
            by = points[i, 1] + uv[t, 0] * t1[i, 1] + uv[t, 1] * t2[i, 1]
            bz = points[i, 2] + uv[t, 0] * t1[i, 2] + uv[t, 1] * t2[i, 2]
            row = (i * n_t + t) * n_q
            for q in range(n_q):
                out[row + q, 0] = bx + offsets[q] * normals[i, 0]
                out[row + q, 1] = by + offsets[q] * normals[i, 1]
                out[row + q, 2] = bz + offsets[q] * normals[i, 2]


@numba.njit(cache=True, boundscheck=False)
def _cut_patches(prof, t_pos, start, out):  # pragma: no cover - compiled
    """out[v, j, a] = prof[v, t_pos[a], start[a] + j]: candidate j's input a."""
    for v in range(out.shape[0]):
        for j in range(out.shape[1]):
            for a in range(out.shape[2]):
                out[v, j, a] = prof[v, t_pos[a], start[a] + j]
