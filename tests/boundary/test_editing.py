"""MeshEditor: a drag pulls the neighbourhood only, undo is exact, saving loses nothing."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from napari_msdl.boundary import ShapeSpace
from napari_msdl.boundary.editing import CUTOFF, MeshEditor
from napari_msdl.dataset import MANIFEST, Dataset, create_dataset, put_case
from napari_msdl.phantoms import make_phantom
from napari_msdl.valve import TOPOLOGY, pose_from_mesh

SMALL = (56, 56, 44)


@pytest.fixture(scope="module")
def phantoms():
    return [make_phantom(s, SMALL, 1.0) for s in (100, 101, 102, 103, 104)]


@pytest.fixture(scope="module")
def space(phantoms):
    meshes = [np.asarray(c.mesh.vertices) for c in phantoms[:4]]
    return ShapeSpace.fit(meshes, [c.pose for c in phantoms[:4]], TOPOLOGY.faces)


@pytest.fixture
def editor(phantoms, space):
    return MeshEditor(phantoms[4].mesh.vertices, TOPOLOGY.faces, shape_space=space)


@pytest.fixture(scope="module")
def dataset_folder(tmp_path_factory, phantoms):
    ds = create_dataset(tmp_path_factory.mktemp("ds") / "data")
    for i, case in enumerate(phantoms[:2]):
        put_case(ds, f"c{i}", case.volume, case.pose, case.mesh)
    return ds.root


def test_drag_moves_the_vertex_exactly_neighbours_partly_far_ones_not(editor):
    before = editor.vertices
    i = TOPOLOGY.commissures[0]
    target = before[i] + [3.0, -2.0, 1.5]
    after = editor.drag(i, target)
    np.testing.assert_array_equal(after[i], target)
    d = np.linalg.norm(before - before[i], axis=1)
    shift = np.linalg.norm(after - before, axis=1)
    far = d > CUTOFF * editor.radius_mm
    assert far.any() and np.all(after[far] == before[far])
    near = (d > 0.1) & (d < editor.radius_mm)
    assert near.any()
    assert np.all(shift[near] > 0) and np.all(shift[near] < shift[i])
    expected = np.exp(-d**2 / (2 * editor.radius_mm**2))[near, None] * (target - before[i])
    np.testing.assert_allclose(after[near] - before[near], expected, atol=1e-12)


def test_undo_restores_exactly_and_redo_reapplies(editor):
    start = editor.vertices
    first = editor.drag(10, editor.vertices[10] + 2.0)
    second = editor.drag(500, editor.vertices[500] - 1.0)
    assert np.array_equal(editor.undo(), first)
    assert np.array_equal(editor.undo(), start)
    assert not editor.can_undo
    assert np.array_equal(editor.redo(), first)
    assert np.array_equal(editor.redo(), second)
    with pytest.raises(ValueError, match="nothing to redo"):
        editor.redo()


def test_a_new_edit_clears_redo(editor):
    editor.drag(10, editor.vertices[10] + 2.0)
    editor.undo()
    assert editor.can_redo
    editor.drag(20, editor.vertices[20] + 1.0)
    assert not editor.can_redo


def test_a_continued_drag_is_one_undo_step(editor):
    start = editor.vertices
    for step in (1.0, 2.0, 3.0):
        editor.drag(10, start[10] + step, continue_last=True)
    one_go = MeshEditor(start, TOPOLOGY.faces).drag(10, start[10] + 3.0)
    np.testing.assert_array_equal(editor.vertices, one_go)
    assert np.array_equal(editor.undo(), start) and not editor.can_undo


def test_vertices_is_a_copy(editor):
    v = editor.vertices
    v[:] = 0
    assert not np.array_equal(editor.vertices, v)


def test_snap_projects_onto_the_shape_space(editor, space):
    i = TOPOLOGY.commissures[0]
    editor.drag(i, editor.vertices[i] + [6.0, 0.0, 0.0])
    dragged = editor.vertices
    snapped = editor.snap()
    assert not np.array_equal(snapped, dragged)
    # in the space: projecting again changes (almost) nothing
    again = space.project(snapped, pose_from_mesh(snapped)).vertices
    assert np.abs(again - snapped).max() < 1e-6
    assert np.array_equal(editor.undo(), dragged)


def test_snap_without_a_shape_space_is_refused(phantoms):
    editor = MeshEditor(phantoms[0].mesh.vertices, TOPOLOGY.faces)
    with pytest.raises(ValueError, match="no shape space"):
        editor.snap()


def test_bad_input_is_refused(editor):
    with pytest.raises(ValueError, match="index"):
        editor.drag(len(editor.vertices), [0, 0, 0])
    with pytest.raises(ValueError, match="new_position"):
        editor.drag(0, [0, 0])
    with pytest.raises(ValueError, match="radius_mm"):
        editor.radius_mm = 0
    with pytest.raises(ValueError, match="vertices"):
        MeshEditor(np.zeros((4, 2)), TOPOLOGY.faces)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_save_adds_the_case_without_touching_the_others(editor, dataset_folder, tmp_path,
                                                       phantoms):
    folder = tmp_path / "copy"
    shutil.copytree(dataset_folder, folder)
    before = _snapshot(folder)
    old_entries = json.loads((folder / MANIFEST).read_text())["cases"]
    i = TOPOLOGY.commissures[0]
    editor.drag(i, editor.vertices[i] + [2.0, 1.0, 0.0])
    editor.save_annotation(folder, "edited", volume=phantoms[4].volume)
    after = _snapshot(folder)
    for path, data in before.items():
        if path.name != MANIFEST:
            assert after[path] == data, path
    entries = json.loads((folder / MANIFEST).read_text())["cases"]
    assert entries[:2] == old_entries and entries[2]["id"] == "edited"
    case = Dataset.open(folder)["edited"]
    np.testing.assert_allclose(case.load_mesh().vertices, editor.vertices, atol=1e-5)
    assert case.pose.allclose(editor.pose())
    # updating the case keeps its image and the other cases
    editor.drag(i, editor.vertices[i] + [0.0, 0.0, 1.0])
    editor.save_annotation(folder, "edited")
    entries = json.loads((folder / MANIFEST).read_text())["cases"]
    assert entries[:2] == old_entries and len(entries) == 3
    assert Dataset.open(folder)["edited"].pose.allclose(editor.pose())


def test_save_creates_a_dataset(editor, tmp_path, phantoms):
    editor.save_annotation(tmp_path / "new", "a1", volume=phantoms[4].volume)
    assert [c.id for c in Dataset.open(tmp_path / "new")] == ["a1"]


@pytest.mark.parametrize("problem", ["bad id", "no volume", "unwritable"])
def test_a_failed_save_changes_neither_the_editor_nor_the_dataset(editor, dataset_folder,
                                                                  tmp_path, phantoms, problem):
    folder = tmp_path / "copy"
    shutil.copytree(dataset_folder, folder)
    editor.drag(10, editor.vertices[10] + 2.0)
    case_id, volume = "new case?", phantoms[4].volume
    if problem == "no volume":
        case_id, volume = "new", None
    if problem == "unwritable":  # meshes/ is a file: writing the mesh fails (even as root)
        case_id = "new"
        shutil.rmtree(folder / "meshes")
        (folder / "meshes").write_bytes(b"not a folder")
    vertices, before = editor.vertices, _snapshot(folder)
    with pytest.raises((ValueError, OSError), match="cannot save case"):
        editor.save_annotation(folder, case_id, volume=volume)
    assert np.array_equal(editor.vertices, vertices) and editor.can_undo
    after = _snapshot(folder)
    assert all(after[path] == data for path, data in before.items())
    assert Dataset.open(folder, check_files=False).to_manifest()["cases"] == \
        json.loads(before[Path(MANIFEST)])["cases"]
