"""The shape space: reproduction of its training meshes, recovery of known coefficients,
clamping, invariance to the placement, normals."""

import numpy as np
import pytest
import trimesh

from napari_msdl.boundary import ShapeSpace, vertex_normals
from napari_msdl.boundary.shape_space import apply_affine
from napari_msdl.geometry import Pose
from napari_msdl.valve import TOPOLOGY


@pytest.fixture(scope="module")
def space(tiny_model):
    return tiny_model.shape_space


def test_training_meshes_are_reproduced_within_the_residual(space, train_cases):
    errors = [np.linalg.norm(space.project(c.mesh.vertices, c.pose, clamp=np.inf).vertices
                             - c.mesh.vertices, axis=1).mean() for c in train_cases]
    assert np.mean(errors) == pytest.approx(space.train_residual_mm, rel=1e-9)
    assert max(errors) < 3 * space.train_residual_mm
    assert space.train_residual_mm < 0.5
    assert space.explained >= 0.98 and 1 <= space.n_modes <= len(train_cases) - 1


def test_all_modes_reproduce_training_meshes_exactly(train_cases):
    meshes = [c.mesh.vertices for c in train_cases]
    poses = [c.pose for c in train_cases]
    full = ShapeSpace.fit(meshes, poses, TOPOLOGY.faces, variance=1.0)
    for v, p in zip(meshes, poses, strict=True):
        np.testing.assert_allclose(full.project(v, p, clamp=np.inf, iterations=10).vertices, v,
                                   atol=1e-6)


@pytest.mark.parametrize("fit_placement", [True, False])
def test_projection_of_mean_plus_k_modes_recovers_k(space, fit_placement):
    pose = Pose([40.0, 50.0, 30.0], [0.2, -0.3, 0.5], [30.0, 28.0, 20.0])
    k = np.zeros(space.n_modes)
    k[0], k[-1] = 1.5, -2.0
    fit = space.project(space.instance(k, pose), pose, fit_placement=fit_placement)
    np.testing.assert_allclose(fit.coefficients, k, atol=1e-6)
    np.testing.assert_allclose(fit.vertices, space.instance(k, pose), atol=1e-6)


def test_coefficients_are_clamped(space):
    pose = Pose([0.0, 0, 0], [0, 0, 0], [30.0, 30, 20])
    k = np.zeros(space.n_modes)
    k[0] = 5.0
    fit = space.project(space.instance(k, pose), pose, clamp=3.0)
    assert fit.coefficients[0] == pytest.approx(3.0)


def test_projection_absorbs_an_affine_placement_error(space):
    """A shape placed by a wrong box is recovered: the affine part of the fit moves it."""
    pose = Pose([10.0, 20, 30], [0.1, 0.2, -0.1], [32.0, 30, 21])
    wrong = Pose([12.0, 19, 31], [0.15, 0.17, -0.05], [29.0, 33, 20])
    k = np.zeros(space.n_modes)
    k[1] = 1.0
    target = space.instance(k, pose)
    fit = space.project(target, wrong)
    np.testing.assert_allclose(fit.vertices, target, atol=1e-6)
    assert np.allclose(apply_affine(fit.affine, space.shape(k)), target, atol=1e-6)


def test_weights_ignore_outliers(space):
    pose = Pose([0.0, 0, 0], [0, 0, 0], [30.0, 30, 20])
    target = space.mean_mesh(pose)
    noisy = target.copy()
    noisy[:100] += 20.0
    w = np.ones(space.n_vertices)
    w[:100] = 0.0
    np.testing.assert_allclose(space.project(noisy, pose, weights=w).vertices, target,
                               atol=1e-6)


def test_fit_refuses_mixed_topologies():
    p = Pose([0.0, 0, 0], [0, 0, 0], [1.0, 1, 1])
    with pytest.raises(ValueError, match="topology"):
        ShapeSpace.fit([np.zeros((4, 3)), np.zeros((5, 3))], [p, p], np.array([[0, 1, 2]]))


def test_vertex_normals_of_a_sphere_point_outwards():
    m = trimesh.creation.icosphere(3, 5.0)
    n = vertex_normals(m.vertices, m.faces)
    radial = m.vertices / np.linalg.norm(m.vertices, axis=1, keepdims=True)
    assert np.min(np.sum(n * radial, axis=1)) > 0.99
    np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0)
