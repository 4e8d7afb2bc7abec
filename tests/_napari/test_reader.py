"""Everything napari-msdl writes opens again: meshes, detection JSON, dataset folders."""

import json

import numpy as np
import pytest

from napari_msdl._napari.reader import DATASET_KEY, napari_get_reader
from napari_msdl.cli import main
from napari_msdl.dataset import Dataset
from napari_msdl.phantoms.dataset import sample_data_path


def test_only_what_napari_msdl_reads_gets_a_reader(tmp_path):
    (tmp_path / "notes.json").write_text('{"a": 1}')
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "empty").mkdir()
    assert napari_get_reader(str(tmp_path / "notes.json")) is None
    assert napari_get_reader(str(tmp_path / "bad.json")) is None
    assert napari_get_reader(str(tmp_path / "empty")) is None
    assert napari_get_reader(str(tmp_path / "x.txt")) is None
    assert napari_get_reader([str(tmp_path), str(tmp_path)]) is None


@pytest.fixture(scope="module")
def detected(tmp_path_factory, tiny_valve_model):
    """``napari-msdl detect --out --mesh`` on a sample image."""
    out = tmp_path_factory.mktemp("detected")
    image = Dataset.open(sample_data_path()).cases[0].image
    assert main(["detect", str(image), "--model", str(tiny_valve_model), "--out",
                 str(out / "d.json"), "--mesh", str(out / "d.ply"), "--quiet"]) == 0
    return out


def test_a_detection_json_opens_as_its_box_and_its_mesh(detected):
    from napari_msdl.geometry import Pose
    from napari_msdl.mesh import load_mesh

    doc = json.loads((detected / "d.json").read_text())
    layers = napari_get_reader(str(detected / "d.json"))(str(detected / "d.json"))
    kinds = {meta["name"]: kind for _, meta, kind in layers}
    assert kinds == {"d box": "vectors", "d mesh": "surface"}
    box = next(m for _, m, k in layers if k == "vectors")
    assert Pose.from_dict(box["metadata"]["pose"]).allclose(Pose.from_dict(doc["pose"]))
    (vertices, faces), _, _ = next(layer for layer in layers if layer[2] == "surface")
    np.testing.assert_allclose(vertices, load_mesh(detected / "d.ply").vertices, atol=1e-5)


def test_a_mesh_file_opens_as_a_surface_in_mm(detected):
    from napari_msdl.mesh import load_mesh

    (vertices, faces), meta, kind = napari_get_reader(str(detected / "d.ply"))(
        str(detected / "d.ply"))[0]
    mesh = load_mesh(detected / "d.ply")
    assert kind == "surface" and meta["name"] == "d"
    np.testing.assert_allclose(vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(faces, mesh.faces)


def test_a_dataset_folder_opens_as_its_first_case():
    root = sample_data_path()
    layers = napari_get_reader(str(root))(str(root))
    case = Dataset.open(root).cases[0]
    assert layers[0][1]["name"] == case.id and layers[0][2] == "image"
    assert f"{case.id} true box" in {m["name"] for _, m, _ in layers}
    assert all(m["metadata"][DATASET_KEY] == {"root": str(root), "case": case.id}
               for _, m, _ in layers)


@pytest.mark.gui
def test_viewer_open_with_the_plugin_round_trips_the_widgets_json(make_napari_viewer, qtbot,
                                                                  tiny_detector, tmp_path):
    from napari_msdl._napari.widgets.detect_valve import DetectValveWidget

    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    widget = DetectValveWidget(viewer)
    widget.model.use(tiny_detector[0])
    widget.run()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=120_000)
    path = widget.save_pose(tmp_path / "pose.json")
    layers = viewer.open(path, plugin="napari-msdl")
    assert [layer.name for layer in layers] == ["pose box"]
    np.testing.assert_allclose(layers[0].data[:12], viewer.layers["phantom-00000 box"].data[:12])
