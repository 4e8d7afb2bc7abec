"""Hypothesis generation for the three marginal spaces, and the stages' feature volume.

* The feature volume: the image resampled once, with an anti-aliasing triangle filter,
  to the spacing ``mean_size / 18`` per axis (the pitch of the 18^3 pattern in a box of
  the training mean size), divided by its mean intensity where it has data and padded
  with zeros. On it a position hypothesis's grid points fall exactly on voxels.
* Position hypotheses: voxels on a regular grid (a stride in feature-volume voxels)
  whose box (the position stage's axis-aligned box of the mean size) is at least
  :data:`MIN_BOX_SUPPORT` data; the hypothesis at voxel ``m`` is centred at ``m + 1/2``.
  A box, not its center voxel: log compression clips dark blood to exactly 0, and the
  valve's center often lies in such a pocket of zeros inside the field of view.
* Orientation hypotheses: a set of rotations learned from the training data (a grid of
  rotation vectors around the training mean, kept where training orientations are near).
* Scale hypotheses: a set of sizes learned the same way, as a grid of log-sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import ndimage
from scipy.spatial.transform import Rotation

from napari_msdl.detector.features import FeatureVolume
from napari_msdl.sparse.grid import GRID_SIZE
from napari_msdl.volume.volume import Volume

PAD = GRID_SIZE // 2 + 1
"""Zero padding (voxels) of the feature volume: a position pattern never leaves it."""


def _axis_taps(n_in: int, sp_in: float, o_in: float, n_out: int, sp_out: float,
               o_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Index (n_out, T) and weight tables of a triangle filter from one grid to another.

    The filter's half-width is the larger spacing (linear interpolation when upsampling,
    area-like averaging when downsampling). Weights are normalised as if the input went
    on for ever, so the result fades to zero outside the input instead of extrapolating.
    """
    r = max(sp_out, sp_in) / sp_in
    x = (o_out + np.arange(n_out) * sp_out - o_in) / sp_in
    n_taps = int(np.ceil(2 * r)) + 1
    first = np.floor(x - r).astype(np.int64) + 1
    idx = first[:, None] + np.arange(n_taps)[None, :]
    w = np.maximum(0.0, 1.0 - np.abs(idx - x[:, None]) / r)
    w /= np.maximum(w.sum(1, keepdims=True), 1e-12)
    inside = (idx >= 0) & (idx < n_in) & (w > 0)
    return np.where(inside, idx, -1), np.where(inside, w, 0.0).astype(np.float32)


@numba.njit(parallel=True, cache=True, nogil=True)
def _resample_axis0(x, idx, w, out):  # pragma: no cover - compiled
    for o in numba.prange(idx.shape[0]):
        out[o] = 0.0
        for t in range(idx.shape[1]):
            i = idx[o, t]
            if i >= 0:
                wt = w[o, t]
                for a in range(x.shape[1]):
                    for b in range(x.shape[2]):
                        out[o, a, b] += wt * x[i, a, b]


def resample_to(data: np.ndarray, spacing, origin, out_shape, out_spacing,
                out_origin) -> np.ndarray:
    """Separable triangle-filter resampling of a 3D array onto another regular grid."""
    x = data
    for axis in range(3):
        idx, w = _axis_taps(x.shape[0], float(spacing[axis]), float(origin[axis]),
                            int(out_shape[axis]), float(out_spacing[axis]),
                            float(out_origin[axis]))
        out = np.empty((idx.shape[0], *x.shape[1:]), dtype=np.float32)
        _resample_axis0(x, idx, w, out)
        x = np.moveaxis(out, 0, -1)
    return np.ascontiguousarray(x)


def feature_volume(volume: Volume, spacing, offset=(0.0, 0.0, 0.0)) -> FeatureVolume:
    """Resample ``volume`` to ``spacing`` (mm per axis), normalise and pad it.

    The grid starts at the volume's origin plus ``offset`` (mm; training shifts it by
    fractions of a voxel to see the truth at other sub-voxel positions). Intensities are
    divided by the mean of the resampled voxels that hold data, so a global gain change
    of the image does not change the features.
    """
    spacing = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (3,)).copy()
    inner = np.floor(volume.extent / spacing).astype(np.int64) + 1
    shape = inner + 2 * PAD
    origin = volume.origin + np.asarray(offset, dtype=np.float64) - PAD * spacing
    data = volume.data
    if data.dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        data = data.astype(np.float32)
    out = resample_to(data, volume.spacing, volume.origin, shape, spacing, origin)
    positive = out[out > 0]
    scale = float(positive.mean()) if positive.size else 1.0
    if not np.isfinite(scale) or scale <= 0:
        scale = 1.0
    out *= np.float32(1.0 / scale)
    return FeatureVolume(data=out, spacing=spacing, origin=origin, pad=PAD)


MIN_BOX_SUPPORT = 0.5
"""Detection searches the positions whose mean-size box is at least this share data
(nonzero). The true boxes of the 850 phantoms (800 training, 50 test) are at least 0.63
data; a box centred on a flat edge of the field of view is 0.5."""


def _grid_voxels(fv: FeatureVolume, stride: int, phase: int) -> np.ndarray:
    shape = np.array(fv.data.shape)
    axes = [np.arange(fv.pad + phase, n - fv.pad, stride) for n in shape]
    return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)


def box_support(fv: FeatureVolume) -> np.ndarray:
    """Per voxel ``m``, the share of nonzero voxels in the position box at ``m``: the
    18^3 voxels ``m - 8 .. m + 9`` per axis (see :func:`~napari_msdl.detector.features.base_index`).
    """
    mask = (fv.data > 0).astype(np.float32)
    return ndimage.uniform_filter(mask, size=GRID_SIZE, mode="constant", origin=-1)


def position_voxels(fv: FeatureVolume, stride: int, phase: int = 0,
                    min_support: float = MIN_BOX_SUPPORT) -> np.ndarray:
    """Position hypotheses (N, 3) int64 that detection searches: voxels every ``stride``
    whose box is at least ``min_support`` data (a hypothesis at voxel ``m`` is centred
    at ``m + 1/2``)."""
    m = _grid_voxels(fv, stride, phase)
    support = box_support(fv)
    return m[support[m[:, 0], m[:, 1], m[:, 2]] >= min_support]


def data_voxels(fv: FeatureVolume, stride: int, phase: int = 0) -> np.ndarray:
    """Voxels every ``stride`` whose center reads data: where training draws its
    "anywhere in the image" negatives and mines hard ones (the bundled models were
    trained on this set; detection searches :func:`position_voxels`)."""
    m = _grid_voxels(fv, stride, phase)
    has_data = (fv.data[m[:, 0], m[:, 1], m[:, 2]] > 0) | (
        fv.data[m[:, 0] + 1, m[:, 1] + 1, m[:, 2] + 1] > 0)
    return m[has_data]


def voxel_centers(fv: FeatureVolume, voxels: np.ndarray) -> np.ndarray:
    """World centers (N, 3) mm of position hypotheses at ``voxels``."""
    return fv.origin + (np.asarray(voxels, dtype=np.float64) + 0.5) * fv.spacing


def center_voxels(fv: FeatureVolume, centers: np.ndarray) -> np.ndarray:
    """The position-hypothesis voxel nearest to each world center (N, 3)."""
    return np.rint((np.asarray(centers) - fv.origin) / fv.spacing - 0.5).astype(np.int64)


def _grid_near(points: np.ndarray, step: float, reach: float) -> np.ndarray:
    """Points of the regular grid of ``step`` (through 0) within ``reach`` of any point."""
    lo = np.floor((points.min(0) - reach) / step)
    hi = np.ceil((points.max(0) + reach) / step)
    axes = [np.arange(a, b + 1) * step for a, b in zip(lo, hi, strict=True)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, points.shape[1])
    keep = np.zeros(len(grid), dtype=bool)
    for start in range(0, len(grid), 4096):
        d = np.linalg.norm(grid[start:start + 4096, None] - points[None], axis=-1)
        keep[start:start + 4096] = d.min(1) <= reach
    return grid[keep]


def rotation_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (rad) of the rotation between rotation matrices ``a`` and ``b`` (broadcast)."""
    tr = np.einsum("...ij,...ij->...", a, b)
    return np.arccos(np.clip((tr - 1.0) / 2.0, -1.0, 1.0))


@dataclass(frozen=True)
class OrientationSet:
    """Orientation hypotheses: ``rotations[i] = exp(rotvecs[i]) @ mean`` (rows = box axes),
    ``rotvecs`` on a grid of ``step_rad``."""

    mean: np.ndarray
    rotvecs: np.ndarray
    step_rad: float

    @classmethod
    def learn(cls, rotations: np.ndarray, step_deg: float, reach: float = 1.0) -> OrientationSet:
        """A rotation-vector grid of ``step_deg`` around the training mean rotation, kept
        within ``reach`` steps of a training orientation (so it covers the data's range)."""
        from napari_msdl.geometry import project_to_rotation

        rotations = np.asarray(rotations, dtype=np.float64)
        mean = project_to_rotation(rotations.mean(0))
        rel = Rotation.from_matrix(rotations @ mean.T).as_rotvec()
        step = np.deg2rad(step_deg)
        return cls(mean=mean, rotvecs=_grid_near(rel, step, reach * step), step_rad=step)

    @property
    def rotations(self) -> np.ndarray:
        """(R, 3, 3) rotation matrices of the set."""
        return Rotation.from_rotvec(self.rotvecs).as_matrix() @ self.mean

    def refinements(self) -> np.ndarray:
        """(27, 3, 3) small rotations: a 3x3x3 grid of rotation vectors of half a step,
        identity first; ``refinements() @ R`` are the neighbours of a rotation ``R``."""
        grid = (np.stack(np.meshgrid(*[np.array([0.0, -1.0, 1.0])] * 3, indexing="ij"), -1)
                .reshape(-1, 3) * self.step_rad / 2)
        return Rotation.from_rotvec(grid).as_matrix()

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "rotvecs": self.rotvecs.tolist(),
                "step_rad": self.step_rad}

    @classmethod
    def from_dict(cls, d: dict) -> OrientationSet:
        return cls(mean=np.asarray(d["mean"], dtype=np.float64).reshape(3, 3),
                   rotvecs=np.asarray(d["rotvecs"], dtype=np.float64).reshape(-1, 3),
                   step_rad=float(d["step_rad"]))


@dataclass(frozen=True)
class SizeSet:
    """Scale hypotheses: ``sizes[i] = mean * exp(logs[i])`` (mm, full box edges)."""

    mean: np.ndarray
    logs: np.ndarray

    @classmethod
    def learn(cls, sizes: np.ndarray, step: float, reach: float = 1.0) -> SizeSet:
        """A grid of log-sizes (``step``, e.g. 0.06 = 6 %) around the geometric mean size,
        kept within ``reach`` steps of a training size."""
        logs = np.log(np.asarray(sizes, dtype=np.float64))
        mean = np.exp(logs.mean(0))
        return cls(mean=mean, logs=_grid_near(logs - np.log(mean), step, reach * step))

    @property
    def sizes(self) -> np.ndarray:
        """(S, 3) sizes of the set, mm."""
        return self.mean * np.exp(self.logs)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "logs": self.logs.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> SizeSet:
        return cls(mean=np.asarray(d["mean"], dtype=np.float64).reshape(3),
                   logs=np.asarray(d["logs"], dtype=np.float64).reshape(-1, 3))


def jitter_offsets(step: float, n: int) -> np.ndarray:
    """Position jitters (J, 3) mm: 0, then the 6 axis steps (n >= 7), then the 8 diagonals
    of half a step (n >= 15); ``n`` is rounded down to one of 1, 7, 15."""
    out = [np.zeros(3)]
    if n >= 7:
        out += [s * step * e for e in np.eye(3) for s in (-1.0, 1.0)]
    if n >= 15:
        out += [0.5 * step * (2 * np.array(c) - 1) for c in np.ndindex(2, 2, 2)]
    return np.array(out, dtype=np.float64)
