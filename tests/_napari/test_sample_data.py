"""File > Open Sample: the bundled phantoms open with their true box and mesh in mm."""

import numpy as np
import pytest

from napari_msdl._napari.sample_data import sample_layers
from napari_msdl.dataset import Dataset
from napari_msdl.phantoms.dataset import sample_data_path


def test_sample_layers_hold_the_volume_box_and_mesh_of_the_case():
    case = Dataset.open(sample_data_path()).cases[1]
    layers = sample_layers(1)
    kinds = {meta["name"]: kind for _, meta, kind in layers}
    true = f"{case.id} true"
    assert kinds == {case.id: "image", f"{true} mesh": "surface", f"{true} mesh 2D": "vectors",
                     f"{true} box": "vectors", f"{true} box 2D": "vectors"}
    image_meta = layers[0][1]
    assert image_meta["metadata"]["true_pose"] == case.pose.to_dict()
    box = next(data for data, meta, _ in layers if meta["name"] == f"{true} box")
    np.testing.assert_allclose(np.sort(box[:, 0], axis=0)[0],
                               np.sort(case.pose.corners(), axis=0)[0], atol=1e-9)


def test_bad_sample_index_is_refused():
    with pytest.raises(ValueError, match="sample index"):
        sample_layers(7)


@pytest.mark.gui
def test_open_sample_in_napari_places_everything_in_mm(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    image = viewer.layers[0]
    case = Dataset.open(sample_data_path()).cases[0]
    volume = case.load_volume()
    np.testing.assert_allclose(image.scale, volume.spacing)
    np.testing.assert_allclose(image.translate, volume.origin)
    true = f"{case.id} true"
    assert f"{true} mesh" in viewer.layers and f"{true} box" in viewer.layers
    verts = viewer.layers[f"{true} mesh"].data[0]
    np.testing.assert_allclose(verts, case.load_mesh().vertices, atol=1e-4)
    # the box cut in the slice through the center lies in that slice
    cut = viewer.layers[f"{true} box 2D"].data
    assert len(cut) and np.all(np.isin(np.round(cut[:, 0, 0], 6),
                                       np.round(volume.origin[0] + np.arange(volume.shape[0])
                                                * volume.spacing[0], 6)))
