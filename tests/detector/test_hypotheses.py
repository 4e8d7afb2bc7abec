"""Hypothesis generation covers the truth in every marginal space."""

import numpy as np

from napari_msdl.detector.features import FeatureVolume, base_index
from napari_msdl.detector.hypotheses import (
    MIN_BOX_SUPPORT,
    OrientationSet,
    SizeSet,
    box_support,
    data_voxels,
    feature_volume,
    jitter_offsets,
    position_voxels,
    rotation_angle,
    voxel_centers,
)
from napari_msdl.geometry import rotation_matrices
from napari_msdl.sparse.grid import GRID_SIZE
from napari_msdl.volume.volume import Volume


def test_position_grid_covers_every_box_inside_the_data():
    data = np.zeros((60, 50, 40), dtype=np.uint8)
    data[5:55, 5:45, 5:35] = 100
    vol = Volume(data, spacing=(0.8, 0.8, 1.0), origin=(3.0, -4.0, 2.0))
    fv = feature_volume(vol, np.array([0.9, 0.85, 0.8]))
    stride = 2
    centers = voxel_centers(fv, position_voxels(fv, stride))
    rng = np.random.default_rng(0)
    # centers whose position box (18 feature voxels across) lies inside the data
    half = GRID_SIZE / 2 * fv.spacing / vol.spacing
    truth = vol.index_to_world(rng.uniform(5 + half, np.array([55, 45, 35]) - half,
                                           size=(50, 3)))
    d = np.linalg.norm(truth[:, None] - centers[None], axis=-1).min(1)
    assert d.max() <= np.linalg.norm(stride * fv.spacing) / 2 + 1e-9
    # nothing where the image is empty
    idx = np.rint(vol.world_to_index(centers)).astype(int)
    inside = np.all((idx >= 0) & (idx < vol.shape), axis=1)
    assert inside.all()


def test_box_support_is_the_share_of_data_in_each_position_box():
    rng = np.random.default_rng(3)
    data = (rng.random((40, 41, 42)) > 0.6).astype(np.float32)
    fv = FeatureVolume(data, np.ones(3), np.zeros(3), 10)
    support = box_support(fv)
    voxels = rng.integers(10, 30, size=(30, 3))
    bases = base_index(voxels, data.shape)
    box = np.stack(np.meshgrid(*[np.arange(GRID_SIZE)] * 3, indexing="ij"), -1).reshape(-1, 3)
    offsets = box @ np.array([41 * 42, 42, 1])
    brute = data.reshape(-1)[bases[:, None] + offsets[None]].mean(1)
    np.testing.assert_allclose(support[tuple(voxels.T)], brute, atol=1e-5)


def test_position_search_reaches_a_center_in_a_pocket_of_zeros():
    # log compression clips dark blood to 0: a valve's center may read 0 inside the image
    data = np.full((40, 40, 50), 2.0, dtype=np.float32)
    data[:, :, 30:] = 0  # beyond the field of view
    data[17:23, 17:23, 17:23] = 0  # a dark pocket
    fv = FeatureVolume(data, np.ones(3), np.zeros(3), 10)
    searched = {tuple(v) for v in position_voxels(fv, 1)}
    assert (20, 20, 20) in searched
    assert (20, 20, 20) not in {tuple(v) for v in data_voxels(fv, 1)}
    # boxes reaching over the edge of the data: 10 / 18 of the box is data, then 7 / 18
    assert (20, 20, 28) in searched
    assert MIN_BOX_SUPPORT > 7 / 18 and (20, 20, 31) not in searched


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
