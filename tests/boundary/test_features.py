"""Normal-aligned patches: the candidate gather equals patches sampled one by one."""

import numpy as np
import pytest

from napari_msdl.boundary import PatchSpec
from napari_msdl.boundary.features import candidate_patches, sample_patches, tangent_frames
from napari_msdl.volume import Volume


@pytest.fixture(scope="module")
def volume():
    rng = np.random.default_rng(0)
    return Volume(rng.random((40, 36, 30)).astype(np.float32), (0.9, 1.0, 1.1), (-3.0, 2, 1))


def _points_normals(rng, n=20):
    p = rng.uniform([5, 10, 10], [25, 25, 20], (n, 3))
    nrm = rng.normal(size=(n, 3))
    return p, nrm / np.linalg.norm(nrm, axis=1, keepdims=True)


def test_tangent_frames_are_orthonormal_and_roll_turns_them():
    rng = np.random.default_rng(1)
    _, n = _points_normals(rng, 50)
    n[0] = [0, 0, 1]  # along the reference: the fallback axis is used
    t1, t2 = tangent_frames(n)
    for a, b in ((t1, t2), (t1, n), (t2, n)):
        np.testing.assert_allclose(np.sum(a * b, axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(t1, axis=1), 1)
    r1, _ = tangent_frames(n, roll=np.full(50, np.pi / 2))
    np.testing.assert_allclose(r1, t2, atol=1e-12)


def test_candidate_patches_equal_patches_sampled_at_each_candidate(volume):
    rng = np.random.default_rng(2)
    p, n = _points_normals(rng)
    spec = PatchSpec(n_normal=7, normal_step_mm=1.0, n_tangent=3, tangent_step_mm=1.5)
    t1, t2 = tangent_frames(n)
    half, step = 4, 0.5
    cols = np.sort(rng.choice(spec.n_inputs, 25, replace=False))
    cand = candidate_patches(volume, p, n, spec, t1, t2, half, step, cols)
    assert cand.shape == (len(p), 2 * half + 1, len(cols))
    for j in range(-half, half + 1):
        direct = sample_patches(volume, p + j * step * n, n, spec, t1, t2)
        np.testing.assert_allclose(cand[:, j + half], direct[:, cols], rtol=1e-5, atol=1e-5)


def test_patch_layout_is_tangent_major_with_profiles_along_the_normal():
    """A linear ramp along the normal reads as steps of normal_step inside each profile."""
    data = np.broadcast_to(np.arange(60.0)[None, None, :], (20, 20, 60)).copy()
    vol = Volume(data)
    spec = PatchSpec(n_normal=5, normal_step_mm=2.0, n_tangent=3, tangent_step_mm=1.0)
    n = np.array([[0.0, 0, 1]])
    t1, t2 = tangent_frames(n, reference=np.array([1.0, 0, 0]))
    x = sample_patches(vol, np.array([[10.0, 10, 30]]), n, spec, t1, t2).reshape(9, 5)
    np.testing.assert_allclose(x, np.broadcast_to([26, 28, 30, 32, 34], (9, 5)))


def test_bad_candidate_step_is_refused(volume):
    p, n = _points_normals(np.random.default_rng(3), 2)
    t1, t2 = tangent_frames(n)
    with pytest.raises(ValueError, match="must divide"):
        candidate_patches(volume, p, n, PatchSpec(), t1, t2, 3, 0.3)


def test_patch_spec_validation_and_round_trip():
    spec = PatchSpec(n_normal=13, normal_step_mm=0.75)
    assert PatchSpec.from_dict(spec.to_dict()) == spec
    assert spec.n_inputs == 9 * 13
    with pytest.raises(ValueError, match="odd"):
        PatchSpec(n_normal=10)
