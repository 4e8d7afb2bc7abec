"""Meshes: one way to build them, vertex order kept through every file format."""

import numpy as np
import pytest
import trimesh

from napari_msdl.mesh import (
    check_mesh_path,
    is_mesh_path,
    load_mesh,
    make_trimesh,
    save_mesh,
)


@pytest.fixture
def mesh():
    rng = np.random.default_rng(0)
    box = trimesh.creation.box(extents=(3.0, 4.0, 5.0))
    order = rng.permutation(len(box.vertices))  # an order trimesh's processing would change
    inverse = np.argsort(order)
    return make_trimesh(box.vertices[order] + [10.0, -2.0, 7.5], inverse[box.faces])


@pytest.mark.parametrize("suffix", [".PLY", ".obj"])
def test_ply_and_obj_keep_vertices_and_their_order(mesh, tmp_path, suffix):
    back = load_mesh(save_mesh(mesh, tmp_path / f"valve{suffix}"))
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(back.faces, mesh.faces)


def test_stl_keeps_the_triangles(mesh, tmp_path):
    """STL stores triangles, not a vertex list: the surface survives, the vertex order (the
    valve's topology) cannot."""
    back = load_mesh(save_mesh(mesh, tmp_path / "valve.stl"))
    np.testing.assert_allclose(back.triangles, mesh.triangles, atol=1e-5)


def test_make_trimesh_never_merges_or_reorders():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=float)  # a duplicate
    m = make_trimesh(v, [[0, 1, 2], [3, 1, 2]])
    assert len(m.vertices) == 4 and m.faces.tolist() == [[0, 1, 2], [3, 1, 2]]


@pytest.mark.parametrize("vertices, faces, message", [
    (np.zeros((0, 3)), np.zeros((0, 3), int), "vertices"),
    (np.zeros((3, 2)), [[0, 1, 2]], "vertices"),
    (np.zeros((3, 3)), [[0, 1, 3]], "faces"),
    (np.zeros((3, 3)), [[0.0, 1.0, 2.0]], "integer"),
])
def test_malformed_meshes_are_refused(vertices, faces, message):
    with pytest.raises(ValueError, match=message):
        make_trimesh(vertices, faces)


def test_suffixes_and_bad_files(mesh, tmp_path):
    assert is_mesh_path("a/b.OBJ") and not is_mesh_path("a/b.vtk")
    with pytest.raises(ValueError, match=r"--mesh out\.vtk must end in \.ply"):
        check_mesh_path("out.vtk", "--mesh")
    with pytest.raises(ValueError, match="must end in"):
        save_mesh(mesh, tmp_path / "valve.vtk")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        load_mesh(tmp_path / "none.ply")
    (tmp_path / "bad.ply").write_bytes(b"ply\nnonsense")
    with pytest.raises(ValueError, match="bad.ply"):
        load_mesh(tmp_path / "bad.ply")
