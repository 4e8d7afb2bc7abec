"""The compiled pattern gathers against the torch reference and an analytic image."""

import numpy as np
import pytest

from napari_msdl.detector import features as F
from napari_msdl.detector.hypotheses import feature_volume, position_voxels, voxel_centers
from napari_msdl.geometry import Pose, rotation_matrices
from napari_msdl.volume.volume import Volume


@pytest.fixture(scope="module")
def fv():
    rng = np.random.default_rng(3)
    vol = Volume(rng.integers(1, 255, (40, 36, 30), dtype=np.uint8), spacing=(0.9, 0.8, 1.0),
                 origin=(-5.0, 2.0, 1.0))
    return feature_volume(vol, np.array([20.0, 18.0, 16.0]) / 18)


def test_box_kernel_matches_torch_reference(fv):
    rng = np.random.default_rng(0)
    n = 300
    centers = fv.origin + rng.random((n, 3)) * np.array(fv.data.shape) * fv.spacing
    centers[:20] += 40.0  # partly or wholly outside: zero padding semantics
    rotations = rotation_matrices(rng.normal(size=(n, 3)))
    sizes = rng.uniform(10, 25, size=(n, 3))
    inputs = np.sort(rng.choice(5832, 200, replace=False))
    offsets = F.pattern_offsets(inputs)
    got = F.gather_boxes(fv, centers, rotations, sizes, offsets).numpy()
    ref = F.gather_boxes_torch(fv, centers, rotations, sizes, offsets).numpy()
    assert got.shape == (n, 200) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=1e-5)
    assert np.any(got[:20] == 0) and np.any(got[20:] != 0)


def test_gathers_carry_each_rows_mean_and_std(fv):
    rng = np.random.default_rng(5)
    vox = position_voxels(fv, 4)
    inputs = np.sort(rng.choice(5832, 333, replace=False))
    f = F.gather_shifted(fv, F.base_index(vox, fv.data.shape),
                         F.shift_offsets(inputs, fv.data.shape))
    x = f.numpy().astype(np.float64)
    np.testing.assert_allclose(f.mean.numpy(), x.mean(1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f.std.numpy(), x.std(1), rtol=1e-4, atol=1e-5)


def test_shifted_gather_matches_torch_and_box_gather(fv):
    vox = position_voxels(fv, 3)
    bases = F.base_index(vox, fv.data.shape)
    inputs = np.array([0, 17, 400, 5831])
    offsets = F.shift_offsets(inputs, fv.data.shape)
    got = F.gather_shifted(fv, bases, offsets).numpy()
    np.testing.assert_array_equal(got, F.gather_shifted_torch(fv, bases, offsets).numpy())
    # an axis-aligned box of 18 voxels centred at m + 1/2 samples exactly these voxels
    n = len(vox)
    boxes = F.gather_boxes(fv, voxel_centers(fv, vox), np.broadcast_to(np.eye(3), (n, 3, 3)),
                           np.tile(18 * fv.spacing, (n, 1)), F.pattern_offsets(inputs)).numpy()
    np.testing.assert_allclose(got, boxes, atol=1e-4)


def test_linear_image_is_sampled_exactly():
    """Trilinear interpolation reproduces a linear function of position."""
    idx = np.stack(np.meshgrid(*[np.arange(n) for n in (30, 30, 30)], indexing="ij"), -1)
    origin, spacing = np.array([1.0, -2.0, 0.5]), np.array([1.0, 1.0, 1.0])
    coef = np.array([0.3, -0.2, 0.1])
    world = origin + idx * spacing
    data = (5.0 + world @ coef).astype(np.float32)
    fv = F.FeatureVolume(data=data, spacing=spacing, origin=origin, pad=0)
    pose = Pose(center=(15, 12, 16), angles=(0.3, -0.2, 0.5), size=(12, 10, 8))
    inputs = np.arange(0, 5832, 7)
    got = F.gather_boxes(fv, pose.center[None], pose.rotation[None], pose.size[None],
                         F.pattern_offsets(inputs)).numpy()[0]
    pts = pose.to_world(F.pattern_offsets(inputs))
    np.testing.assert_allclose(got, 5.0 + pts @ coef, atol=1e-4)


def _active_net(seed: int, density: float, normalize: bool = True):
    import torch

    from napari_msdl.sparse import SADNN, NetworkConfig
    from napari_msdl.sparse.networks import ActiveNet

    net = SADNN(NetworkConfig(hidden=(20, 8), normalize=normalize), seed=seed)
    g = torch.Generator().manual_seed(seed)
    net.first.set_mask_((torch.rand(net.first.mask.shape, generator=g) < density).float())
    return ActiveNet(net)


@pytest.mark.parametrize("normalize", [True, False])
def test_fused_first_layers_equal_gathering_then_multiplying(fv, normalize):
    """The fused kernels (each filter's taps read from a scratch row, its moments taken
    there) give the first layer that gathering the samples and multiplying them by the
    compacted first layer gives, for both gathers, boxes at the border included."""
    net = _active_net(4, 0.004, normalize)
    assert net.taps().tap_index.shape[1] < net.n_active  # each filter reads a few of them
    rng = np.random.default_rng(6)
    vox = position_voxels(fv, 2)
    bases = F.base_index(vox, fv.data.shape)
    offsets = F.shift_offsets(net.columns, fv.data.shape)
    f = F.gather_shifted(fv, bases, offsets)
    np.testing.assert_allclose(F.shifted_first_layer(fv, bases, offsets, net.taps()).numpy(),
                               net.first_layer(f.x, f.mean, f.std).numpy(),
                               rtol=1e-4, atol=1e-4)
    n = 300
    centers = fv.origin + rng.random((n, 3)) * np.array(fv.data.shape) * fv.spacing
    centers[:30] -= 15.0  # reaching out of the volume: the border path
    rotations = rotation_matrices(rng.normal(size=(n, 3)))
    sizes = rng.uniform(10, 25, size=(n, 3))
    box_offsets = F.pattern_offsets(net.columns)
    f = F.gather_boxes(fv, centers, rotations, sizes, box_offsets)
    got = F.boxes_first_layer(fv, centers, rotations, sizes, box_offsets, net.taps()).numpy()
    np.testing.assert_allclose(got, net.first_layer(f.x, f.mean, f.std).numpy(),
                               rtol=1e-4, atol=1e-4)
