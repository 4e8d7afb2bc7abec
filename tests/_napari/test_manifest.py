"""napari.yaml names the formats the code reads and writes, from their one definition."""

from pathlib import Path

import yaml

import napari_msdl
from napari_msdl.mesh import MESH_SUFFIXES
from napari_msdl.volume.io import SUPPORTED_EXTENSIONS

MANIFEST = yaml.safe_load((Path(napari_msdl.__file__).parent / "napari.yaml").read_text())


def test_the_reader_patterns_are_the_volume_and_mesh_suffixes_and_json():
    (reader,) = MANIFEST["contributions"]["readers"]
    suffixes = [*SUPPORTED_EXTENSIONS, *MESH_SUFFIXES, ".json"]
    assert sorted(reader["filename_patterns"]) == sorted(f"*{s}" for s in suffixes)
    assert reader["accepts_directories"] is True


def test_the_writer_extensions_are_the_mesh_suffixes():
    (writer,) = MANIFEST["contributions"]["writers"]
    assert writer["layer_types"] == ["surface"]
    assert sorted(writer["filename_extensions"]) == sorted(MESH_SUFFIXES)


def test_every_command_points_at_an_existing_callable():
    import importlib

    for command in MANIFEST["contributions"]["commands"]:
        module, _, name = command["python_name"].partition(":")
        assert callable(getattr(importlib.import_module(module), name)), command["id"]


def test_every_workspace_tab_is_also_a_widget_of_its_own():
    from napari_msdl._napari import workspace

    commands = {c["id"]: c["python_name"] for c in MANIFEST["contributions"]["commands"]}
    listed = {commands[w["command"]].rpartition(":")[2]
              for w in MANIFEST["contributions"]["widgets"]}
    tabs = {"DetectValveWidget", "SparsityPatternsWidget", "EditMeshWidget", "CasesWidget",
            "TrainModelWidget", "PruneModelWidget"}
    assert tabs | {"Workspace"} == listed
    source = Path(workspace.__file__).read_text()
    assert all(f"{name}(viewer)" in source for name in tabs)
