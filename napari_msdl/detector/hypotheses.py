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

The hypotheses of a stage are held as :class:`PositionHypotheses` (voxels of the feature
volume; an axis-aligned box of the mean size around each, read by integer offsets) or
:class:`BoxHypotheses` (oriented boxes, read trilinearly; :func:`expand` makes them from
the previous stage's candidates). Training (:mod:`napari_msdl.training.samples`) and
detection use these same classes, so a network sees at detection exactly the kind of
features it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial.transform import Rotation

from napari_msdl._io import check_keys, check_number
from napari_msdl.detector.features import (
    FeatureVolume,
    base_index,
    boxes_first_layer,
    gather_boxes,
    gather_shifted,
    pattern_offsets,
    shift_offsets,
    shifted_first_layer,
)
from napari_msdl.sparse.grid import GRID_SIZE
from napari_msdl.sparse.networks import ActiveNet
from napari_msdl.volume.resample import resample_to
from napari_msdl.volume.volume import Volume

PAD = GRID_SIZE // 2 + 1
"""Zero padding (voxels) of the feature volume: a position pattern never leaves it."""


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
    out = resample_to(volume.data, volume.spacing, volume.origin, shape, spacing, origin)
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


MAX_HYPOTHESES = 100_000
"""At most this many orientations (or sizes) in a set read from a file."""


def _array(value, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A finite float64 array of ``shape`` (-1: any length, 1 to :data:`MAX_HYPOTHESES`)
    from JSON; ``ValueError`` naming ``what`` otherwise."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{what} must be numbers, got {type(value).__name__}") from e
    n = a.shape[0] if a.ndim == len(shape) and a.ndim else 0
    want = tuple(n if s == -1 else s for s in shape)
    if a.shape != want or (shape[0] == -1 and not 1 <= n <= MAX_HYPOTHESES):
        raise ValueError(f"{what} must have shape {shape} (-1: 1 to {MAX_HYPOTHESES}), got "
                         f"{a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be finite numbers")
    return a


def _union(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows of ``a`` then those of ``b`` not already in ``a`` (to 1e-9)."""
    if len(a) == 0:
        return b
    d = np.abs(b[:, None, :] - a[None, :, :]).max(axis=2).min(axis=1) if len(b) else b
    return np.concatenate([a, b[d > 1e-9]]) if len(b) else a


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

    def extended(self, rotations: np.ndarray, reach: float = 1.0) -> OrientationSet:
        """This set plus the points of its grid within ``reach`` steps of ``rotations``
        (the same mean and step, so the networks see orientations as they learned them)."""
        rel = Rotation.from_matrix(np.asarray(rotations) @ self.mean.T).as_rotvec()
        new = _grid_near(rel, self.step_rad, reach * self.step_rad)
        return OrientationSet(mean=self.mean, rotvecs=_union(self.rotvecs, new),
                              step_rad=self.step_rad)

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
        """The set :meth:`to_dict` wrote, checked: a rotation as the mean, finite rotation
        vectors of at most pi, at most :data:`MAX_HYPOTHESES` of them."""
        keys = ("mean", "rotvecs", "step_rad")
        check_keys(d, keys, "orientation set", required=keys)
        mean = _array(d["mean"], (3, 3), "orientation set mean")
        if not (np.allclose(mean @ mean.T, np.eye(3), atol=1e-6)
                and np.linalg.det(mean) > 0):
            raise ValueError(f"orientation set mean must be a rotation matrix, got "
                             f"{mean.tolist()}")
        rotvecs = _array(d["rotvecs"], (-1, 3), "orientation set rotvecs")
        if np.any(np.linalg.norm(rotvecs, axis=1) > np.pi + 1e-9):
            raise ValueError("orientation set rotvecs must be rotations of at most pi")
        return cls(mean=mean, rotvecs=rotvecs,
                   step_rad=check_number("orientation set step_rad", d["step_rad"], 0.0,
                                         np.pi, low_open=True))


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

    def extended(self, sizes: np.ndarray, step: float, reach: float = 1.0) -> SizeSet:
        """This set moved to the mean of ``sizes`` (mm, (N, 3)), its spread about the mean
        kept, plus the points of the log-size grid of ``step`` within ``reach`` steps of
        ``sizes``. The detector's grid pitch follows the mean size, so valves of another
        size look to the networks as their training valves did."""
        logs = np.log(np.asarray(sizes, dtype=np.float64))
        mean = np.exp(logs.mean(0))
        return SizeSet(mean=mean, logs=_union(self.logs,
                                              _grid_near(logs - np.log(mean), step,
                                                         reach * step)))

    @property
    def sizes(self) -> np.ndarray:
        """(S, 3) sizes of the set, mm."""
        return self.mean * np.exp(self.logs)

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "logs": self.logs.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> SizeSet:
        """The set :meth:`to_dict` wrote, checked: a positive mean size (mm), finite log
        factors of at most e^5, at most :data:`MAX_HYPOTHESES` of them."""
        check_keys(d, ("mean", "logs"), "size set", required=("mean", "logs"))
        mean = _array(d["mean"], (3,), "size set mean")
        if np.any(mean <= 0) or np.any(mean > 1000):
            raise ValueError(f"size set mean must be 3 sizes in (0, 1000] mm, got "
                             f"{mean.tolist()}")
        logs = _array(d["logs"], (-1, 3), "size set logs")
        if np.any(np.abs(logs) > 5):
            raise ValueError("size set logs must be log factors of at most 5 in magnitude")
        return cls(mean=mean, logs=logs)


def jitter_offsets(step: float, n: int) -> np.ndarray:
    """Position jitters (J, 3) mm: 0, then the 6 axis steps (n >= 7), then the 8 diagonals
    of half a step (n >= 15); ``n`` is rounded down to one of 1, 7, 15."""
    out = [np.zeros(3)]
    if n >= 7:
        out += [s * step * e for e in np.eye(3) for s in (-1.0, 1.0)]
    if n >= 15:
        out += [0.5 * step * (2 * np.array(c) - 1) for c in np.ndindex(2, 2, 2)]
    return np.array(out, dtype=np.float64)


class _OffsetCache:
    """Per first-layer pattern, the offsets a gather needs (computed once per pattern)."""

    def __init__(self, make):
        self._make = make
        self._cache: dict[bytes, np.ndarray] = {}

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        key = np.asarray(inputs, dtype=np.int64).tobytes()
        if key not in self._cache:
            self._cache[key] = self._make(inputs)
        return self._cache[key]


class _Scorable:
    """What both kinds of hypotheses share: a network's first layer on some of them."""

    device: str | torch.device

    def first_layer(self, net: ActiveNet, idx: np.ndarray) -> torch.Tensor:
        """``net``'s first layer (len(idx), H) on hypotheses ``idx``: fused with the gather
        on the CPU for a sparse layer (:func:`~napari_msdl.detector.features.shifted_first_layer`,
        :func:`~napari_msdl.detector.features.boxes_first_layer`;
        :attr:`~napari_msdl.sparse.networks.ActiveNet.fusable`), else gathered then
        multiplied (dense layers, other devices)."""
        if str(self.device) == "cpu" and net.fusable:
            return self._fused(net, idx)
        f = self.gather(net.columns, idx)
        return net.first_layer(f.x, f.mean, f.std)


@dataclass
class PositionHypotheses(_Scorable):
    """Axis-aligned boxes of the mean size centred half a voxel above ``voxels`` (N, 3)."""

    fv: FeatureVolume
    voxels: np.ndarray
    device: str | torch.device = "cpu"

    def __post_init__(self) -> None:
        self.voxels = np.asarray(self.voxels, dtype=np.int64).reshape(-1, 3)
        self._bases = base_index(self.voxels, self.fv.data.shape)
        self._offsets = _OffsetCache(lambda inp: shift_offsets(inp, self.fv.data.shape))

    def __len__(self) -> int:
        return len(self.voxels)

    @property
    def centers(self) -> np.ndarray:
        return voxel_centers(self.fv, self.voxels)

    def gather(self, inputs: np.ndarray, idx: np.ndarray):
        """Features (len(idx), len(inputs)) of hypotheses ``idx``."""
        return gather_shifted(self.fv, self._bases[idx], self._offsets(inputs), self.device)

    def _fused(self, net: ActiveNet, idx: np.ndarray) -> torch.Tensor:
        return shifted_first_layer(self.fv, self._bases[idx], self._offsets(net.columns),
                                   net.taps())


@dataclass
class BoxHypotheses(_Scorable):
    """Oriented boxes: ``centers`` (N, 3) mm, ``rotations`` (N, 3, 3), ``sizes`` (N, 3) mm."""

    fv: FeatureVolume
    centers: np.ndarray
    rotations: np.ndarray
    sizes: np.ndarray
    device: str | torch.device = "cpu"

    def __post_init__(self) -> None:
        n = len(self.centers)
        if self.rotations.shape != (n, 3, 3) or self.sizes.shape != (n, 3):
            raise ValueError(f"box hypotheses need (N,3) centers, (N,3,3) rotations and (N,3) "
                             f"sizes; got {self.centers.shape}, {self.rotations.shape}, "
                             f"{self.sizes.shape}")
        self._offsets = _OffsetCache(pattern_offsets)

    def __len__(self) -> int:
        return len(self.centers)

    def gather(self, inputs: np.ndarray, idx: np.ndarray):
        """Features (len(idx), len(inputs)) of hypotheses ``idx``."""
        return gather_boxes(self.fv, self.centers[idx], self.rotations[idx], self.sizes[idx],
                            self._offsets(inputs), self.device)

    def _fused(self, net: ActiveNet, idx: np.ndarray) -> torch.Tensor:
        return boxes_first_layer(self.fv, self.centers[idx], self.rotations[idx],
                                 self.sizes[idx], self._offsets(net.columns), net.taps())

    def take(self, idx: np.ndarray) -> BoxHypotheses:
        """The hypotheses ``idx`` only."""
        return BoxHypotheses(self.fv, self.centers[idx], self.rotations[idx], self.sizes[idx],
                             self.device)


def expand(fv: FeatureVolume, centers: np.ndarray, rotations: np.ndarray, sizes: np.ndarray,
           jitters: np.ndarray, device: str | torch.device = "cpu") -> BoxHypotheses:
    """Every combination of candidate ``i`` (centers (P,3), rotations (P,3,3), sizes (P,3)),
    position jitter ``j`` (J,3) mm and one of the alternatives ``a``.

    Exactly one of ``rotations``/``sizes`` may have an extra alternatives axis: rotations
    (P, A, 3, 3) for the orientation stage, sizes (P, A, 3) for the scale stage. The
    result is ordered (P, J, A) in C order.
    """
    p, j = len(centers), len(jitters)
    rot = rotations if rotations.ndim == 4 else rotations[:, None]
    siz = sizes if sizes.ndim == 3 else sizes[:, None]
    a = max(rot.shape[1], siz.shape[1])
    c = np.broadcast_to(centers[:, None, None, :] + jitters[None, :, None, :], (p, j, a, 3))
    r = np.broadcast_to(rot[:, None], (p, j, a, 3, 3))
    s = np.broadcast_to(siz[:, None], (p, j, a, 3))
    return BoxHypotheses(fv, c.reshape(-1, 3).copy(), r.reshape(-1, 3, 3).copy(),
                         s.reshape(-1, 3).copy(), device)
