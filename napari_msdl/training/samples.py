"""Training samples of each marginal stage: positives near the truth, seeded negatives.

"Near" is measured in the stage's own space:

* position: distance of the box centers (mm);
* orientation: distance of the centers and angle between the rotations;
* scale: the full box's mean corner distance (Table I's corner error).

Positives lie within the positive bound, negatives beyond the (larger) negative bound;
hypotheses in between are ambiguous and not used. Negatives are drawn both near the
truth (the hard ones a detector must rank below it) and anywhere the image has data (the
confusers the previous stage may hand on). Every sample is described by its full 18^3
pattern (5832 features), gathered with the same code detection uses.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from napari_msdl._io import check_number, check_whole, dataclass_from_dict
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.detector.hypotheses import (
    BoxHypotheses,
    OrientationSet,
    PositionHypotheses,
    SizeSet,
    center_voxels,
    data_voxels,
    rotation_angle,
)
from napari_msdl.geometry import UNIT_CORNERS, Pose
from napari_msdl.sparse.grid import N_INPUTS, grid_offsets

ALL_INPUTS = np.arange(N_INPUTS)
SAMPLE_DTYPE = np.float16
"""Training features are stored in half precision (features are intensities in units of
the volume's mean, so 3 significant digits lose nothing a network could use) to halve the
memory of large training sets; the networks compute in float32."""


@dataclass(frozen=True)
class SampleConfig:
    """Bounds (mm, degrees) and per-case counts of training samples."""

    position_positive: float = 2.0
    position_negative: float = 4.0
    orientation_center: float = 2.0
    orientation_positive_deg: float = 8.0
    orientation_negative_deg: float = 16.0
    orientation_negative_center: float = 4.0
    scale_positive: float = 2.5
    scale_negative: float = 5.0
    positives: int = 30
    negatives: int = 150
    far_share: float = 0.3

    def __post_init__(self) -> None:
        for name in ("position_positive", "position_negative", "orientation_center",
                     "orientation_positive_deg", "orientation_negative_deg",
                     "orientation_negative_center", "scale_positive", "scale_negative"):
            check_number(f"samples.{name}", getattr(self, name), 0.0, 1000.0, low_open=True)
        for pos, neg in (("position_positive", "position_negative"),
                         ("orientation_positive_deg", "orientation_negative_deg"),
                         ("orientation_center", "orientation_negative_center"),
                         ("scale_positive", "scale_negative")):
            if not getattr(self, neg) >= getattr(self, pos):
                raise ValueError(f"samples.{neg} ({getattr(self, neg)!r}) must be at least "
                                 f"samples.{pos} ({getattr(self, pos)!r})")
        for name in ("positives", "negatives"):
            check_whole(f"samples.{name}", getattr(self, name), 1, 100_000)
        check_number("samples.far_share", self.far_share, 0.0, 1.0)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SampleConfig:
        return dataclass_from_dict(cls, d, "sample configuration")


def _ball(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    """``n`` points uniform in a ball of ``radius`` around 0, (n, 3)."""
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True) + 1e-12
    return d * radius * rng.random((n, 1)) ** (1 / 3)


def _small_rotations(rng: np.random.Generator, n: int, max_deg: float) -> np.ndarray:
    """``n`` random rotations (n, 3, 3) of angle at most ``max_deg``, uniform in a ball
    of rotation vectors."""
    return Rotation.from_rotvec(_ball(rng, n, np.deg2rad(max_deg))).as_matrix()


def _pick(rng: np.random.Generator, idx: np.ndarray, n: int) -> np.ndarray:
    if len(idx) <= n:
        return idx
    return np.sort(rng.choice(idx, n, replace=False))


def _labelled(features, pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([features(pos), features(neg)]).astype(SAMPLE_DTYPE)
    y = np.concatenate([np.ones(len(pos), np.float32), np.zeros(len(neg), np.float32)])
    return x, y


def position_samples(fv: FeatureVolume, truth: Pose, cfg: SampleConfig,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Position-stage features (n, 5832) and labels (n,) of one case."""
    h = fv.spacing
    reach = np.ceil(cfg.position_negative * 3 / h).astype(int) + 1
    c0 = center_voxels(fv, truth.center[None])[0]
    axes = [np.arange(c0[d] - reach[d], c0[d] + reach[d] + 1) for d in range(3)]
    near = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    lo, hi = fv.pad, np.array(fv.data.shape) - fv.pad
    near = near[np.all((near >= lo) & (near < hi), axis=1)]
    anywhere = data_voxels(fv, 1)
    anywhere = anywhere[rng.choice(len(anywhere), min(len(anywhere), 4 * cfg.negatives),
                                   replace=False)] if len(anywhere) else anywhere
    voxels = np.concatenate([near, anywhere])
    hyps = PositionHypotheses(fv, voxels)
    d = np.linalg.norm(hyps.centers - truth.center, axis=1)
    is_near = np.arange(len(voxels)) < len(near)
    pos = _pick(rng, np.flatnonzero(d <= cfg.position_positive), cfg.positives)
    n_far = int(round(cfg.far_share * cfg.negatives))
    neg = np.concatenate([
        _pick(rng, np.flatnonzero(is_near & (d > cfg.position_negative)), cfg.negatives - n_far),
        _pick(rng, np.flatnonzero(~is_near & (d > cfg.position_negative)), n_far)])
    return _labelled(lambda i: hyps.gather(ALL_INPUTS, i).numpy(), pos, neg)


def _far_centers(fv: FeatureVolume, rng: np.random.Generator, n: int,
                 confusers: np.ndarray | None) -> np.ndarray:
    """``n`` centers away from the truth: half near the confusers the position stage
    ranks high (when given), the rest anywhere the image has data."""
    n_conf = n // 2 if confusers is not None and len(confusers) else 0
    vox = data_voxels(fv, 1)
    if len(vox) == 0:
        vox = np.zeros((1, 3), dtype=np.int64) + fv.pad
    pick = vox[rng.choice(len(vox), n - n_conf, replace=len(vox) < n - n_conf)]
    out = fv.origin + (pick + 0.5) * fv.spacing
    if n_conf:
        near = confusers[rng.integers(0, len(confusers), n_conf)] + _ball(rng, n_conf, 2.0)
        out = np.concatenate([near, out])
    return out


def orientation_samples(fv: FeatureVolume, truth: Pose, orientations: OrientationSet,
                        mean_size: np.ndarray, cfg: SampleConfig, rng: np.random.Generator,
                        confusers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Orientation-stage features and labels of one case (boxes of the mean size).

    ``confusers`` (K, 3): centers the trained position stage ranks high away from the
    truth; half of the far negatives are drawn around them."""
    n_pos, n_neg = cfg.positives, cfg.negatives
    n_far = int(round(cfg.far_share * n_neg))
    n_near = 3 * (n_neg - n_far)
    set_rots = orientations.rotations
    centers = np.concatenate([
        truth.center + _ball(rng, n_pos, cfg.orientation_center),
        truth.center + _ball(rng, n_near, 2 * cfg.orientation_negative_center),
        _far_centers(fv, rng, n_far, confusers)])
    n_set = n_near // 2
    rots = np.concatenate([
        _small_rotations(rng, n_pos, cfg.orientation_positive_deg) @ truth.rotation,
        set_rots[rng.integers(0, len(set_rots), n_set)],
        _small_rotations(rng, n_near - n_set, 2.5 * cfg.orientation_negative_deg)
        @ truth.rotation,
        set_rots[rng.integers(0, len(set_rots), n_far)]])[:len(centers)]
    hyps = BoxHypotheses(fv, centers, rots, np.tile(mean_size, (len(centers), 1)))
    d = np.linalg.norm(centers - truth.center, axis=1)
    ang = np.rad2deg(rotation_angle(rots, truth.rotation[None]))
    positive = (d <= cfg.orientation_center) & (ang <= cfg.orientation_positive_deg)
    negative = (d > cfg.orientation_negative_center) | (ang > cfg.orientation_negative_deg)
    far = np.arange(len(centers)) >= n_pos + n_near
    neg = np.concatenate([_pick(rng, np.flatnonzero(negative & ~far), n_neg - n_far),
                          np.flatnonzero(far)])
    return _labelled(lambda i: hyps.gather(ALL_INPUTS, i).numpy(), np.flatnonzero(positive), neg)


def corner_errors(centers: np.ndarray, rotations: np.ndarray, sizes: np.ndarray,
                  truth: Pose) -> np.ndarray:
    """Mean corner distance (n,) of boxes to the truth, mm."""
    corners = (UNIT_CORNERS[None] * sizes[:, None]) @ rotations + centers[:, None]
    return np.linalg.norm(corners - truth.corners()[None], axis=-1).mean(-1)


def scale_samples(fv: FeatureVolume, truth: Pose, sizes: SizeSet, cfg: SampleConfig,
                  rng: np.random.Generator,
                  confusers: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Scale-stage features and labels of one case (full boxes, labelled by corner error;
    ``confusers`` as in :func:`orientation_samples`)."""
    n_pos, n_neg = cfg.positives, cfg.negatives
    n_far = int(round(cfg.far_share * n_neg))
    n_near = 4 * (n_neg - n_far)
    set_sizes = sizes.sizes
    tight = 0.5 * cfg.scale_positive
    centers = np.concatenate([
        truth.center + _ball(rng, n_pos, tight),
        truth.center + _ball(rng, n_near, 2 * cfg.orientation_negative_center),
        _far_centers(fv, rng, n_far, confusers)])
    rots = np.concatenate([
        _small_rotations(rng, n_pos, cfg.orientation_positive_deg / 2),
        _small_rotations(rng, n_near, 2 * cfg.orientation_negative_deg),
        _small_rotations(rng, n_far, 180.0)]) @ truth.rotation
    siz = np.concatenate([
        truth.size * np.exp(rng.normal(scale=0.04, size=(n_pos, 3))),
        set_sizes[rng.integers(0, len(set_sizes), n_near + n_far)]])
    rots, siz = rots[:len(centers)], siz[:len(centers)]
    err = corner_errors(centers, rots, siz, truth)
    far = np.arange(len(centers)) >= n_pos + n_near
    neg = np.concatenate([_pick(rng, np.flatnonzero((err > cfg.scale_negative) & ~far),
                                n_neg - n_far), np.flatnonzero(far)])
    hyps = BoxHypotheses(fv, centers, rots, siz)
    return _labelled(lambda i: hyps.gather(ALL_INPUTS, i).numpy(),
                     np.flatnonzero(err <= cfg.scale_positive), neg)


def cut_by_field_of_view(x: np.ndarray, share: float, rng: np.random.Generator,
                         cut: tuple[float, float] = (0.1, 0.4)) -> np.ndarray:
    """Zero the inputs beyond a random plane in a random ``share`` of the samples ``x``
    (N, 5832), in place, as the edge of an echo's field of view zeroes part of a box.

    Each chosen sample loses a share of its grid points drawn from ``cut``, on the far
    side of a plane of random direction. Positives and negatives are cut alike, so a cut
    says nothing about the label: a network learns to find the valve in what is left
    instead of learning that empty corners mean "no valve". Returns ``x``."""
    if share <= 0:
        return x
    rows = np.flatnonzero(rng.random(len(x)) < share)
    if len(rows) == 0:
        return x
    normals = rng.normal(size=(len(rows), 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    proj = grid_offsets() @ normals.T  # (5832, m): each point's depth along each normal
    keep = np.floor((1.0 - rng.uniform(*cut, size=len(rows))) * N_INPUTS).astype(np.int64)
    limit = np.sort(proj, axis=0)[keep, np.arange(len(rows))]
    x[rows] = np.where((proj > limit).T, 0, x[rows])
    return x
