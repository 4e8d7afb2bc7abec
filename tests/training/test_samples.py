"""Training samples: labels follow each stage's distance, seeded and reproducible."""

import numpy as np
import pytest

from napari_msdl.detector.hypotheses import OrientationSet, SizeSet, feature_volume
from napari_msdl.geometry import Pose, rotation_matrices
from napari_msdl.sparse.grid import grid_offsets
from napari_msdl.training.samples import (
    SAMPLE_DTYPE,
    SampleConfig,
    corner_errors,
    cut_by_field_of_view,
    orientation_samples,
    position_samples,
    scale_samples,
)
from napari_msdl.volume.volume import Volume


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(4)
    vol = Volume(rng.integers(1, 255, (50, 48, 40), dtype=np.uint8), spacing=(1.0, 1.0, 1.0))
    truth = Pose(center=(25, 23, 20), angles=(0.2, -0.1, 0.3), size=(20, 18, 14))
    poses = rotation_matrices(np.array([0.2, -0.1, 0.3]) + rng.normal(0, 0.1, (30, 3)))
    sizes = np.array([20.0, 18, 14]) * np.exp(rng.normal(0, 0.05, (30, 3)))
    ors, ss = OrientationSet.learn(poses, 15.0), SizeSet.learn(sizes, 0.1)
    return feature_volume(vol, ss.mean / 18), truth, ors, ss


def test_each_stage_has_both_labels_and_full_patterns(case):
    fv, truth, ors, ss = case
    cfg = SampleConfig(positives=10, negatives=30)
    for x, y in (position_samples(fv, truth, cfg, np.random.default_rng(0)),
                 orientation_samples(fv, truth, ors, ss.mean, cfg, np.random.default_rng(0)),
                 scale_samples(fv, truth, ss, cfg, np.random.default_rng(0))):
        assert x.shape == (len(y), 5832) and x.dtype == SAMPLE_DTYPE
        assert 0 < (y == 1).sum() <= 10 and (y == 0).sum() == 30


def test_samples_are_seeded(case):
    fv, truth, ors, ss = case
    cfg = SampleConfig(positives=10, negatives=30)
    a = orientation_samples(fv, truth, ors, ss.mean, cfg, np.random.default_rng(7))
    b = orientation_samples(fv, truth, ors, ss.mean, cfg, np.random.default_rng(7))
    np.testing.assert_array_equal(a[0], b[0])


def test_corner_errors_match_geometry():
    truth = Pose(center=(1, 2, 3), angles=(0.1, 0.2, 0.3), size=(10, 12, 8))
    other = Pose(center=(2, 2, 3.5), angles=(0.15, 0.2, 0.25), size=(11, 12, 7))
    from napari_msdl.geometry import corner_error

    got = corner_errors(other.center[None], other.rotation[None], other.size[None], truth)
    assert got[0] == pytest.approx(corner_error(other, truth))


def test_field_of_view_cut_zeroes_a_half_space_of_the_chosen_samples():
    from scipy.optimize import linprog

    x = np.random.default_rng(0).uniform(0.5, 2.0, (400, 5832)).astype(SAMPLE_DTYPE)
    before = x.copy()
    cut_by_field_of_view(x, 0.25, np.random.default_rng(1), cut=(0.1, 0.4))
    zero = x == 0
    share = zero.mean(1)
    chosen = share > 0
    assert 0.18 < chosen.mean() < 0.32  # about a quarter of the samples
    assert share[chosen].min() >= 0.1 - 1e-3 and share[chosen].max() <= 0.4 + 1e-3
    np.testing.assert_array_equal(x[~zero], before[~zero])  # the rest is untouched
    p = grid_offsets()
    for row in np.flatnonzero(chosen)[:5]:
        # a plane separates the zeroed grid points from the kept ones: find w, b with
        # w.p >= b + 1 on the zeroed side and w.p <= b - 1 on the kept side
        z = zero[row]
        a = np.vstack([np.c_[-p[z], np.ones(z.sum())], np.c_[p[~z], -np.ones((~z).sum())]])
        res = linprog(np.zeros(4), A_ub=a, b_ub=-np.ones(len(a)), bounds=[(None, None)] * 4)
        assert res.status == 0, row


def test_no_field_of_view_cut_leaves_samples_and_the_generator_alone():
    x = np.ones((50, 5832), dtype=SAMPLE_DTYPE)
    rng = np.random.default_rng(3)
    cut_by_field_of_view(x, 0.0, rng)
    assert np.all(x == 1)
    assert rng.random() == np.random.default_rng(3).random()  # nothing drawn
