"""Augmented copies move the image and the pose by one and the same similarity."""

import numpy as np
import pytest

from napari_msdl.detector.features import FeatureVolume
from napari_msdl.geometry import Pose
from napari_msdl.training.augment import Augmentation, augment

SPACING = np.array([1.0, 1.5, 2.0])  # anisotropic, so index and world differ per axis
ORIGIN = np.array([-10.0, 4.0, 2.5])
SHAPE = (64, 48, 40)


def _blob_volume(point_mm: np.ndarray, sigma_mm: float = 2.5) -> FeatureVolume:
    """A round (in mm) Gaussian blob centred on ``point_mm``."""
    idx = np.indices(SHAPE, dtype=np.float64)
    world = ORIGIN[:, None, None, None] + idx * SPACING[:, None, None, None]
    d2 = ((world - point_mm[:, None, None, None]) ** 2).sum(axis=0)
    data = np.exp(-d2 / (2 * sigma_mm ** 2)).astype(np.float32)
    return FeatureVolume(data=data, spacing=SPACING, origin=ORIGIN, pad=0)


def _centroid_mm(fv: FeatureVolume) -> np.ndarray:
    w = np.where(fv.data > 0.3 * fv.data.max(), fv.data, 0.0).astype(np.float64)
    idx = np.indices(fv.data.shape, dtype=np.float64)
    centroid_index = (idx * w).reshape(3, -1).sum(axis=1) / w.sum()
    return fv.origin + centroid_index * fv.spacing


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_image_moves_where_the_similarity_moves_its_points(seed):
    pose = Pose([22.0, 40.0, 40.0], [0.2, -0.1, 0.4], [20.0, 18.0, 14.0])
    blob = np.array([30.0, 35.0, 46.0])  # off the centre: rotation and scale move it
    config = Augmentation(copies=1, rotation_deg=15.0, scale=0.15, shift_mm=4.0)
    out, moved, move = augment(_blob_volume(blob), pose, np.random.default_rng(seed), config)
    expected = move.points(blob[None])[0]
    assert np.linalg.norm(expected - blob) > 2.0  # the draw moves the blob visibly
    assert np.linalg.norm(_centroid_mm(out) - expected) < 0.3
    assert out.data.shape == SHAPE and out.data.dtype == np.float32


def test_the_pose_moves_with_its_box():
    pose = Pose([22.0, 40.0, 40.0], [0.2, -0.1, 0.4], [20.0, 18.0, 14.0])
    config = Augmentation(copies=1, rotation_deg=15.0, scale=0.15, shift_mm=4.0)
    _, moved, move = augment(_blob_volume(pose.center), pose, np.random.default_rng(3), config)
    np.testing.assert_allclose(moved.corners(), move.points(pose.corners()), atol=1e-9)
    np.testing.assert_allclose(moved.size, pose.size * move.factor)


def test_copies_are_repeatable_and_renormalised():
    pose = Pose([22.0, 40.0, 40.0], [0.0, 0.0, 0.0], [20.0, 18.0, 14.0])
    fv = _blob_volume(pose.center)
    config = Augmentation(copies=1)
    a = augment(fv, pose, np.random.default_rng(5), config)[0]
    b = augment(fv, pose, np.random.default_rng(5), config)[0]
    np.testing.assert_array_equal(a.data, b.data)
    assert a.data[a.data > 0].mean() == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("field, value", [("copies", 201), ("copies", -1),
                                          ("rotation_deg", 60.0), ("gamma", 1.0),
                                          ("shift_mm", float("nan"))])
def test_an_augmentation_out_of_bounds_is_refused(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        Augmentation(**{field: value})


def test_an_augmentation_round_trips_through_its_dict():
    config = Augmentation(copies=7, rotation_deg=5.0)
    assert Augmentation.from_dict(config.to_dict()) == config
