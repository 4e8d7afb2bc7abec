"""Hypothesis generation covers the truth in every marginal space."""

import numpy as np

from napari_msdl.detector.hypotheses import (
    OrientationSet,
    SizeSet,
    feature_volume,
    jitter_offsets,
    position_voxels,
    rotation_angle,
    voxel_centers,
)
from napari_msdl.geometry import rotation_matrices
from napari_msdl.volume.volume import Volume


def test_position_grid_covers_every_point_with_data():
    data = np.zeros((60, 50, 40), dtype=np.uint8)
    data[5:55, 5:45, 5:35] = 100
    vol = Volume(data, spacing=(0.8, 0.8, 1.0), origin=(3.0, -4.0, 2.0))
    fv = feature_volume(vol, np.array([1.7, 1.6, 1.5]))
    stride = 2
    centers = voxel_centers(fv, position_voxels(fv, stride))
    rng = np.random.default_rng(0)
    truth = vol.index_to_world(rng.uniform([8, 8, 8], [52, 42, 32], size=(50, 3)))
    d = np.linalg.norm(truth[:, None] - centers[None], axis=-1).min(1)
    assert d.max() <= np.linalg.norm(stride * fv.spacing) / 2 + 1e-9
    # nothing where the image is empty
    idx = np.rint(vol.world_to_index(centers)).astype(int)
    inside = np.all((idx >= 0) & (idx < vol.shape), axis=1)
    assert inside.all()


def test_feature_volume_is_normalised_and_padded():
    vol = Volume(np.full((30, 30, 30), 7, dtype=np.uint8), spacing=(0.75,) * 3)
    fv = feature_volume(vol, np.array([1.5, 1.5, 1.5]))
    inner = fv.data[fv.pad + 2:-fv.pad - 2, fv.pad + 2:-fv.pad - 2, fv.pad + 2:-fv.pad - 2]
    np.testing.assert_allclose(inner, inner.mean(), rtol=1e-5)
    assert np.all(fv.data[:fv.pad - 1] == 0) and np.all(fv.data[-fv.pad + 1:] == 0)
    a = feature_volume(Volume(np.arange(27000, dtype=np.float32).reshape(30, 30, 30) + 1), 1.5)
    b = feature_volume(Volume(3 * (np.arange(27000, dtype=np.float32).reshape(30, 30, 30) + 1)),
                       1.5)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-5, atol=1e-6)


def test_orientation_set_covers_training_rotations():
    rng = np.random.default_rng(1)
    train = rotation_matrices(np.array([0.2, -0.1, 0.4]) + rng.normal(scale=0.15, size=(80, 3)))
    step = 10.0
    ors = OrientationSet.learn(train, step)
    test = rotation_matrices(np.array([0.2, -0.1, 0.4]) + rng.normal(scale=0.1, size=(30, 3)))
    nearest = rotation_angle(test[:, None], ors.rotations[None]).min(1)
    assert np.rad2deg(nearest.max()) <= step * np.sqrt(3) / 2 + 0.5
    back = OrientationSet.from_dict(ors.to_dict())
    np.testing.assert_array_equal(back.rotations, ors.rotations)


def test_size_set_covers_training_sizes():
    rng = np.random.default_rng(2)
    sizes = np.array([28.0, 26.0, 22.0]) * np.exp(rng.normal(scale=0.08, size=(60, 3)))
    ss = SizeSet.learn(sizes, 0.06)
    d = np.abs(np.log(sizes)[:, None] - np.log(ss.sizes)[None]).max(-1).min(1)
    assert d.max() <= 0.03 + 1e-9
    assert len(jitter_offsets(1.0, 1)) == 1 and len(jitter_offsets(1.0, 15)) == 15
