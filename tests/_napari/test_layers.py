"""Layer tuples: poses, meshes and their 2D cuts land in world mm."""

import numpy as np
import trimesh

from napari_msdl._napari.layers import (
    TWO_D_ONLY,
    box_layer,
    box_mesh,
    cut_segments,
    mesh_layer,
    valve_layers,
    volume_layer,
)
from napari_msdl.geometry import Pose
from napari_msdl.volume import Volume

POSE = Pose(center=[30, 40, 20], angles=[0.2, -0.1, 0.5], size=[20, 24, 16])


def test_volume_layer_places_the_image_in_mm():
    vol = Volume(np.zeros((4, 5, 6), np.uint8), spacing=[0.5, 0.75, 1.0], origin=[1, 2, 3])
    data, meta, kind = volume_layer(vol)
    assert kind == "image" and data is vol.data
    assert meta["scale"] == (0.5, 0.75, 1.0) and meta["translate"] == (1.0, 2.0, 3.0)


def test_the_box_layer_draws_the_twelve_edges_and_the_three_axes():
    data, meta, kind = box_layer(POSE, color="cyan")
    assert kind == "vectors" and data.shape == (15, 2, 3)
    edges, axes = data[:12], data[12:]
    ends = np.concatenate([edges[:, 0], edges[:, 0] + edges[:, 1]])
    dist = np.linalg.norm(ends[:, None] - POSE.corners()[None], axis=-1).min(axis=1)
    np.testing.assert_allclose(dist, 0, atol=1e-9)
    np.testing.assert_allclose(axes[:, 0], np.repeat(POSE.center[None], 3, 0))
    np.testing.assert_allclose(axes[:, 1], POSE.axes * (POSE.size[:, None] / 2))
    assert meta["edge_color"].shape == (15, 4)
    np.testing.assert_allclose(meta["edge_color"][0], [0, 1, 1, 1])
    assert meta["metadata"]["pose"] == POSE.to_dict()


def test_box_mesh_is_the_box():
    mesh = box_mesh(POSE)
    assert mesh.is_watertight
    assert np.isclose(mesh.volume, np.prod(POSE.size))
    np.testing.assert_allclose(np.sort(POSE.to_box(mesh.vertices), axis=0),
                               np.sort(np.array(list(np.ndindex(2, 2, 2))) - 0.5, axis=0),
                               atol=1e-9)


def test_cut_segments_of_a_sphere_are_circles_in_the_slice():
    sphere = trimesh.creation.icosphere(subdivisions=4, radius=10)
    segs = cut_segments(sphere, axis=1, positions=np.array([-20.0, 0.0, 6.0]))
    assert set(np.unique(segs[..., 1])) == {0.0, 6.0}
    radii = np.linalg.norm(segs[..., [0, 2]], axis=-1)
    at0, at6 = radii[segs[..., 1] == 0.0], radii[segs[..., 1] == 6.0]
    np.testing.assert_allclose(at0, 10, atol=0.1)
    np.testing.assert_allclose(at6, 8, atol=0.15)


def test_a_result_is_box_and_mesh_with_their_2d_cuts_flagged_2d_only():
    vol = Volume(np.zeros((60, 80, 40), np.uint8), spacing=[1, 1, 1])
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=8)
    mesh.apply_translation(POSE.center)
    assert [m["name"] for _, m, _ in valve_layers("case", POSE)] == ["case box"]
    layers = valve_layers("case", POSE, mesh, vol)
    names = {m["name"]: m for _, m, _ in layers}
    assert set(names) == {"case box", "case mesh", "case box 2D", "case mesh 2D"}
    assert [n for n, m in names.items() if m.get("metadata", {}).get(TWO_D_ONLY)] == [
        "case mesh 2D", "case box 2D"]
    cut = next(d for d, m, _ in layers if m["name"] == "case box 2D")
    assert len(cut) > 0
    starts = cut[:, 0, 0]
    assert np.all(np.isclose(starts, np.round(starts)))  # on slice positions
    assert starts.min() >= POSE.corners()[:, 0].min() - 1e-9


def test_mesh_layer_holds_vertices_and_faces():
    mesh = trimesh.creation.icosphere(subdivisions=1)
    (verts, faces), meta, kind = mesh_layer(mesh)
    assert kind == "surface" and verts.shape == (42, 3) and faces.shape == (80, 3)
