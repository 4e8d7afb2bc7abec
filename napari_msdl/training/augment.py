"""Augmented copies of a training case, so that a few cases give enough samples.

A copy is the case's feature volume moved by a random similarity about the valve's
centre (a small rotation, a scaling, a shift) and passed through a random contrast curve
(a power of the normalised intensities), with the pose moved the same way; the field of
view cut of :func:`~napari_msdl.training.samples.cut_by_field_of_view` then applies to its
samples as to any others. Copies are drawn from a seeded generator, so a run is
repeatable, and made on the feature volume (the image already at the networks' grid
pitch), so a copy costs a fraction of a second.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from napari_msdl._io import check_number, check_whole, dataclass_from_dict
from napari_msdl.detector.features import FeatureVolume
from napari_msdl.geometry import Pose, rotation_matrices


@dataclass(frozen=True)
class Augmentation:
    """How many copies per case, and how far they move: rotations of up to
    ``rotation_deg`` about each axis, sizes scaled by up to ``scale`` (a fraction), shifts
    of up to ``shift_mm`` per axis, intensities raised to a power within ``1 +- gamma``."""

    copies: int = 0
    rotation_deg: float = 10.0
    scale: float = 0.1
    shift_mm: float = 3.0
    gamma: float = 0.25

    def __post_init__(self) -> None:
        check_whole("augmentation copies", self.copies, 0, 200)
        check_number("augmentation rotation_deg", self.rotation_deg, 0.0, 45.0)
        check_number("augmentation scale", self.scale, 0.0, 0.5)
        check_number("augmentation shift_mm", self.shift_mm, 0.0, 20.0)
        check_number("augmentation gamma", self.gamma, 0.0, 0.9)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Augmentation:
        return dataclass_from_dict(cls, d, "augmentation")


@dataclass(frozen=True)
class Similarity:
    """``p -> center + factor * rotation @ (p - center) + shift`` (world mm)."""

    center: np.ndarray
    rotation: np.ndarray
    factor: float
    shift: np.ndarray

    def points(self, p: np.ndarray) -> np.ndarray:
        """World points (N, 3) moved."""
        return self.center + self.factor * (np.asarray(p) - self.center) @ self.rotation.T \
            + self.shift

    def pose(self, pose: Pose) -> Pose:
        """The box moved: its centre moved, its axes turned, its size scaled."""
        return Pose.from_rotation(self.points(pose.center[None])[0],
                                  pose.rotation @ self.rotation.T, pose.size * self.factor)


def draw_similarity(pose: Pose, rng: np.random.Generator, config: Augmentation) -> Similarity:
    """A random similarity about the box's centre within ``config``'s ranges."""
    angles = np.deg2rad(rng.uniform(-config.rotation_deg, config.rotation_deg, 3))
    return Similarity(center=pose.center.copy(), rotation=rotation_matrices(angles),
                      factor=float(rng.uniform(1 - config.scale, 1 + config.scale)),
                      shift=rng.uniform(-config.shift_mm, config.shift_mm, 3))


def augment(fv: FeatureVolume, pose: Pose, rng: np.random.Generator,
            config: Augmentation) -> tuple[FeatureVolume, Pose, Similarity]:
    """One augmented copy: the feature volume moved (trilinear, zeros outside), a random
    contrast power, renormalised to a mean of 1 where it has data; the pose and the
    similarity that moved it."""
    move = draw_similarity(pose, rng, config)
    # index of the output voxel j in the input: inverse similarity, through world mm
    a = move.rotation.T / move.factor  # world -> world of the inverse, linear part
    center = move.center + move.shift
    scale = fv.spacing
    matrix = (a * scale[None, :]) / scale[:, None]
    offset = ((fv.origin - center) @ a.T + move.center - fv.origin) / scale
    data = ndimage.affine_transform(fv.data, matrix, offset=offset, order=1, cval=0.0,
                                    output=np.float32)
    power = float(rng.uniform(1 - config.gamma, 1 + config.gamma))
    np.power(np.maximum(data, 0.0, out=data), power, out=data)
    positive = data[data > 0]
    if positive.size:
        data *= np.float32(1.0 / float(positive.mean()))
    out = FeatureVolume(data=np.ascontiguousarray(data), spacing=fv.spacing, origin=fv.origin,
                        pad=fv.pad)
    return out, move.pose(pose), move
