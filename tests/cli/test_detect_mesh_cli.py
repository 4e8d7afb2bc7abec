"""``napari-msdl detect --mesh``: the valve mesh beside the pose JSON."""

import json

import numpy as np
import trimesh

from napari_msdl.cli import main
from napari_msdl.phantoms import make_phantom
from napari_msdl.volume import save_volume


def test_detect_writes_the_mesh_with_the_valve_topology(tiny_valve_model, tmp_path, capsys):
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    save_volume(case.volume, tmp_path / "v.nii.gz")
    assert main(["detect", str(tmp_path / "v.nii.gz"), "--model", str(tiny_valve_model),
                 "--out", str(tmp_path / "d.json"), "--mesh", str(tmp_path / "m.ply"),
                 "--quiet"]) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    assert {"pose", "corners", "score", "timings", "mesh"} <= set(doc)
    assert doc["mesh"]["file"] == str(tmp_path / "m.ply") and "boundary" in doc["timings"]
    assert set(doc["mesh"]["pose"]) == {"center", "angles", "size"}  # the box of the mesh
    mesh = trimesh.load(tmp_path / "m.ply", process=False)
    np.testing.assert_array_equal(mesh.faces, case.mesh.faces)
    # the box was verified by segmentation, and the output says so; --no-verify skips it
    assert "verification" in doc and "verified: boundary evidence" in capsys.readouterr().out
    assert main(["detect", str(tmp_path / "v.nii.gz"), "--model", str(tiny_valve_model),
                 "--out", str(tmp_path / "d.json"), "--no-verify", "--quiet"]) == 0
    doc = json.loads((tmp_path / "d.json").read_text())
    assert "verification" not in doc and "verified" not in capsys.readouterr().out


def test_mesh_without_a_boundary_model_is_a_clear_error(tiny_detector, tmp_path, capsys):
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    save_volume(case.volume, tmp_path / "v.nii.gz")
    assert main(["detect", str(tmp_path / "v.nii.gz"), "--model", str(tiny_detector[0]),
                 "--out", str(tmp_path / "d.json"), "--mesh", str(tmp_path / "m.ply")]) == 2
    assert "boundary model" in capsys.readouterr().err
    assert not (tmp_path / "d.json").exists()
