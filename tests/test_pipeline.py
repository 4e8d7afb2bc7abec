"""find_valve: the box, then the mesh when the bundle has a boundary model."""

import numpy as np

from napari_msdl.bundle import load_bundle
from napari_msdl.evaluation import mesh_error
from napari_msdl.phantoms import make_phantom
from napari_msdl.pipeline import find_valve


def test_bundle_without_boundary_gives_only_the_box(tiny_detector):
    model = load_bundle(tiny_detector[0])
    assert model.boundary is None
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    result = find_valve(case.volume, model)
    assert result.segmentation is None and "mesh" not in result.to_dict()


def test_bundle_with_boundary_segments_a_mesh_of_the_valve_topology(tiny_valve_model):
    model = load_bundle(tiny_valve_model)
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    stages = []
    result = find_valve(case.volume, model, progress=lambda s, d, t: stages.append(s))
    seg = result.segmentation
    assert seg.vertices.shape == case.mesh.vertices.shape
    np.testing.assert_array_equal(seg.faces, case.mesh.faces)
    assert "boundary" in stages and "position" in " ".join(stages)
    assert np.isfinite(mesh_error(seg.mesh(), case.mesh))
    assert result.to_dict()["timings"]["boundary"] == seg.seconds
