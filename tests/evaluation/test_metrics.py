"""Mesh error: exact point-to-surface distances against analytic answers."""

import numpy as np
import pytest
import trimesh

from napari_msdl.evaluation import mesh_error, point_to_surface, summary


def test_identical_meshes_have_zero_error():
    m = trimesh.creation.icosphere(3, 7.0)
    assert mesh_error(m, m) == pytest.approx(0.0, abs=1e-9)


def test_concentric_spheres_differ_by_the_radius_difference():
    a, b = trimesh.creation.icosphere(4, 10.0), trimesh.creation.icosphere(4, 12.5)
    # the flat facets of the outer sphere sit at most r (1 - cos) ~ 0.1 % inside it
    assert mesh_error(a, b) == pytest.approx(2.5, rel=2e-3)
    assert mesh_error(b, a) == pytest.approx(mesh_error(a, b))


def test_distance_to_one_triangle_regions():
    tri = (np.array([[0.0, 0, 0], [4, 0, 0], [0, 4, 0]]), np.array([[0, 1, 2]]))
    pts = np.array([[1.0, 1, 3],      # above the face: plane distance
                    [2, -3, 0],       # beside edge 0-1, in plane
                    [-3, -4, 0],      # beyond vertex 0
                    [3, 3, 1]])       # beyond the hypotenuse, above it
    expected = [3.0, 3.0, 5.0, np.hypot(np.sqrt(2), 1)]
    np.testing.assert_allclose(point_to_surface(pts, tri), expected, atol=1e-12)


def test_degenerate_triangles_are_measured_by_their_edges():
    v = np.array([[0.0, 0, 0], [2, 0, 0], [4, 0, 0]])
    d = point_to_surface(np.array([[3.0, 1, 0]]), (v, np.array([[0, 1, 2]])))
    assert d[0] == pytest.approx(1.0)


def test_exact_distance_never_exceeds_dense_sampling():
    rng = np.random.default_rng(0)
    m = trimesh.creation.icosphere(2, 5.0)
    m.vertices += rng.normal(0, 0.3, m.vertices.shape)
    pts = rng.normal(0, 6.0, (300, 3))
    exact = point_to_surface(pts, m)
    dense, _ = trimesh.sample.sample_surface(m, 200_000, seed=1)
    from scipy.spatial import cKDTree

    approx, _ = cKDTree(dense).query(pts)
    assert np.all(exact <= approx + 1e-9)
    assert np.max(approx - exact) < 0.1


def test_bad_mesh_is_refused():
    with pytest.raises(ValueError, match="faces"):
        point_to_surface(np.zeros((1, 3)), (np.zeros((3, 3)), np.array([[0, 1, 5]])))


def test_summary():
    s = summary([1.0, 2.0, 6.0])
    assert s == {"mean": 3.0, "median": 2.0, "std": pytest.approx(np.std([1, 2, 6])), "n": 3}
