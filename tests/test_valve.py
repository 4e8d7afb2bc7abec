"""The valve mesh's fixed topology, its landmarks and the box rule."""

import numpy as np
import pytest

from napari_msdl import valve
from napari_msdl.geometry import rotation_matrices
from napari_msdl.phantoms.anatomy import valve_vertices
from napari_msdl.phantoms.generator import sample_valve
from napari_msdl.valve import (
    ANNULUS_ROW,
    LEAFLET_NU,
    LEAFLET_NV,
    N_PER_SINUS,
    N_THETA,
    STJ_ROW,
    TOPOLOGY,
    pose_from_mesh,
)


@pytest.fixture(scope="module")
def shapes():
    return [sample_valve(np.random.default_rng(s)) for s in range(8)]


def test_topology_sizes_and_faces():
    assert 1500 <= TOPOLOGY.n_vertices <= 3000
    assert TOPOLOGY.faces.shape[1] == 3
    assert TOPOLOGY.faces.min() == 0 and TOPOLOGY.faces.max() == TOPOLOGY.n_vertices - 1
    assert np.unique(TOPOLOGY.faces).size == TOPOLOGY.n_vertices  # every vertex is used
    root_faces = 2 * (valve.ROOT_ROWS - 1) * N_THETA  # the theta seam is stitched
    leaflet_faces = 2 * (LEAFLET_NU - 1) * (LEAFLET_NV - 1)
    assert len(TOPOLOGY.faces) == root_faces + 3 * leaflet_faces
    parts = np.concatenate([TOPOLOGY.root, *TOPOLOGY.leaflets])
    np.testing.assert_array_equal(parts, np.arange(TOPOLOGY.n_vertices))


def test_landmark_indices():
    np.testing.assert_array_equal(TOPOLOGY.annulus_ring, ANNULUS_ROW * N_THETA + np.arange(N_THETA))
    np.testing.assert_array_equal(TOPOLOGY.stj_ring, STJ_ROW * N_THETA + np.arange(N_THETA))
    assert TOPOLOGY.commissures.tolist() == [
        TOPOLOGY.root_index(valve.COMMISSURE_ROW, k * N_PER_SINUS) for k in range(3)]
    assert TOPOLOGY.nadirs.tolist() == [
        TOPOLOGY.root_index(ANNULUS_ROW, k * N_PER_SINUS + N_PER_SINUS // 2) for k in range(3)]


def test_box_of_the_local_valve(shapes):
    for s in shapes:
        pose = pose_from_mesh(valve_vertices(s))
        # the box follows the root axis and commissure 0 (at theta = 0) closely
        assert np.degrees(np.arccos(pose.rotation[2, 2])) < 3.0
        assert pose.rotation[0, 0] > np.cos(np.radians(8.0))
        assert abs(pose.center[2] - s.stj_height / 2) < 0.5
        assert 20.0 < pose.size[0] < 44.0 and 20.0 < pose.size[1] < 44.0
        assert 15.0 < pose.size[2] < 30.0


def test_box_encloses_the_valve_tightly(shapes):
    for s in shapes:
        v = valve_vertices(s)
        pose = pose_from_mesh(v)
        unit = pose.to_box(v[TOPOLOGY.valve])
        assert np.all(np.abs(unit) <= 0.5 + 1e-9)
        np.testing.assert_allclose(np.abs(unit).max(axis=0), 0.5, atol=1e-9)


def test_box_rule_is_rigid_motion_equivariant(shapes):
    v = valve_vertices(shapes[0])
    r = rotation_matrices(np.array([0.3, -0.5, 1.2]))
    t = np.array([40.0, -12.0, 70.0])
    a, b = pose_from_mesh(v), pose_from_mesh(v @ r + t)
    np.testing.assert_allclose(b.center, a.center @ r + t, atol=1e-9)
    np.testing.assert_allclose(b.rotation, a.rotation @ r, atol=1e-9)
    np.testing.assert_allclose(b.size, a.size, atol=1e-9)


def test_box_rule_rejects_other_meshes():
    with pytest.raises(ValueError, match=str(TOPOLOGY.n_vertices)):
        pose_from_mesh(np.zeros((100, 3)))
    with pytest.raises(ValueError, match="coincide"):
        pose_from_mesh(np.zeros((TOPOLOGY.n_vertices, 3)))


def test_valve_mesh_keeps_vertices_and_faces(shapes):
    v = valve_vertices(shapes[1])
    mesh = valve.valve_mesh(v)
    np.testing.assert_array_equal(mesh.vertices, v)
    np.testing.assert_array_equal(mesh.faces, TOPOLOGY.faces)
