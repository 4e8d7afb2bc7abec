"""The Edit mesh widget: a dragged handle moves the Surface, Undo restores, Save writes."""

import numpy as np
import pytest

from napari_msdl._napari.widgets.edit_mesh import EditMeshWidget
from napari_msdl.dataset import Dataset
from napari_msdl.valve import TOPOLOGY

pytestmark = pytest.mark.gui
MESH = "phantom-00000 true mesh"


@pytest.fixture
def widget(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    w = EditMeshWidget(viewer)
    w.mesh.value = viewer.layers[MESH]
    w.start()
    return w


def _drag(widget, index, shift):
    data = np.array(widget.handles.data)
    data[index] += shift
    widget.handles.data = data


def test_start_editing_adds_handles_over_the_vertices(widget, qtbot):
    surface = widget.viewer.layers[MESH]
    handles = widget.viewer.layers[MESH + " handles"]
    assert handles is widget.handles and handles.mode == "select"
    np.testing.assert_allclose(handles.data, surface.vertices, atol=1e-5)
    # the bundled model's shape space loads in the background; then Snap is on
    qtbot.waitUntil(lambda: widget.snap_button.enabled, timeout=60_000)
    assert not widget.snap_button.tooltip


def test_disabled_controls_say_why(make_napari_viewer):
    viewer = make_napari_viewer()
    w = EditMeshWidget(viewer)
    for button in (w.snap_button, w.undo_button, w.redo_button, w.save_button):
        assert not button.enabled and "Start editing" in button.tooltip


def test_the_latest_detected_mesh_is_the_one_to_edit(make_napari_viewer):
    from napari_msdl._napari.widgets.detect_valve import RESULT

    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    w = EditMeshWidget(viewer)
    surface = viewer.layers[MESH]
    viewer.add_surface((surface.vertices, surface.faces), name="phantom-00000 mesh",
                       metadata={RESULT: "detection"})
    assert w.mesh.value is viewer.layers["phantom-00000 mesh"]


def test_a_dragged_handle_moves_the_surface_and_undo_restores(widget):
    surface = widget.viewer.layers[MESH]
    start = np.array(surface.vertices)
    cut_before = np.array(widget.viewer.layers[MESH + " 2D"].data)
    i = TOPOLOGY.commissures[0]
    _drag(widget, i, [0.0, 3.0, 2.0])
    moved = np.array(surface.vertices)
    np.testing.assert_allclose(moved[i], start[i] + [0.0, 3.0, 2.0], atol=1e-4)
    shift = np.linalg.norm(moved - start, axis=1)
    d = np.linalg.norm(start - start[i], axis=1)
    assert np.all(shift[d > 3 * widget.radius.value] == 0)
    assert np.sum((shift > 1e-3) & (d > 0.1)) > 3  # the neighbourhood follows
    np.testing.assert_allclose(widget.handles.data, moved, atol=1e-5)
    assert not np.array_equal(widget.viewer.layers[MESH + " 2D"].data, cut_before)
    assert widget.undo_button.enabled and not widget.redo_button.enabled
    widget.undo_button.clicked()
    np.testing.assert_array_equal(surface.vertices, start)
    np.testing.assert_allclose(widget.handles.data, start, atol=1e-5)
    widget.redo_button.clicked()
    np.testing.assert_array_equal(surface.vertices, moved)


def test_moving_many_handles_at_once_is_undone(widget):
    surface = widget.viewer.layers[MESH]
    start = np.array(surface.vertices)
    data = np.array(widget.handles.data)
    data[[1, 2]] += 5.0
    widget.handles.data = data
    np.testing.assert_array_equal(surface.vertices, start)
    np.testing.assert_allclose(widget.handles.data, start, atol=1e-5)
    assert "one handle" in widget.status.value


def test_save_annotation_writes_a_dataset(widget, tmp_path):
    i = TOPOLOGY.commissures[0]
    _drag(widget, i, [0.0, 2.0, 0.0])
    widget.dataset.value = tmp_path / "annotations"
    widget.case_id.value = "edited-1"
    widget.save_button.clicked()
    assert "Saved" in widget.status.value, widget.status.value
    case = Dataset.open(tmp_path / "annotations")["edited-1"]
    np.testing.assert_allclose(case.load_mesh().vertices, widget.editor.vertices, atol=1e-5)
    assert case.pose.allclose(widget.editor.pose())
    assert case.load_volume().shape == widget.viewer.layers[0].data.shape


def test_a_failed_save_is_reported_and_keeps_the_edit(widget, tmp_path):
    _drag(widget, 5, [1.0, 0.0, 0.0])
    vertices = widget.editor.vertices
    widget.dataset.value = tmp_path / "annotations"
    widget.case_id.value = "bad id!"
    widget.save_button.clicked()
    assert "Not saved" in widget.status.value
    assert np.array_equal(widget.editor.vertices, vertices)


@pytest.fixture(scope="module")
def shape_model(tmp_path_factory, tiny_detector):
    """A bundle whose boundary model's shape space is fitted on the three sample meshes (its
    classifier is untrained: Snap needs only the shape space)."""
    from napari_msdl.boundary import BoundaryModel, PatchSpec, ShapeSpace
    from napari_msdl.bundle import ModelCard, TrainingRecord, ValveModel, load_bundle, save_bundle
    from napari_msdl.phantoms.dataset import sample_data_path
    from napari_msdl.sparse.networks import SADNN, NetworkConfig

    cases = list(Dataset.open(sample_data_path()))
    space = ShapeSpace.fit([c.load_mesh().vertices for c in cases], [c.pose for c in cases],
                           TOPOLOGY.faces)
    patch = PatchSpec(n_normal=5, normal_step_mm=1.0, n_tangent=1, tangent_step_mm=1.0)
    net = SADNN(NetworkConfig(n_inputs=patch.n_inputs, hidden=(4,)))
    folder = tmp_path_factory.mktemp("shape-model") / "model"
    boundary = BoundaryModel(shape_space=space, classifier=net, patch=patch)
    save_bundle(ValveModel(load_bundle(tiny_detector[0]).detector, boundary,
                           ModelCard(boundary=TrainingRecord())), folder)
    return folder


def test_snap_projects_the_edit_onto_the_shape_space(widget, shape_model, qtbot):
    widget.model.use(shape_model)
    qtbot.waitUntil(lambda: widget.snap_button.enabled, timeout=60_000)
    surface = widget.viewer.layers[MESH]
    i = TOPOLOGY.commissures[0]
    _drag(widget, i, [0.0, 5.0, 0.0])
    dragged = np.array(surface.vertices)
    widget.snap_button.clicked()
    assert widget.status.value == "Snapped."
    snapped = np.array(surface.vertices)
    assert np.abs(snapped - dragged).max() > 0.5
    np.testing.assert_allclose(widget.handles.data, snapped, atol=1e-5)
    widget.undo_button.clicked()
    np.testing.assert_array_equal(surface.vertices, dragged)


def test_removing_the_handles_stops_editing(widget):
    widget.viewer.layers.remove(widget.handles)
    assert widget.editor is None and not widget.save_button.enabled
    assert not widget.undo_button.enabled and "stopped" in widget.status.value


def test_starting_again_replaces_the_handles(widget):
    widget.start()
    assert widget.editor is not None
    assert [layer.name for layer in widget.viewer.layers].count(MESH + " handles") == 1
    _drag(widget, 5, [1.0, 0.0, 0.0])
    assert widget.undo_button.enabled and "Moved vertex 5" in widget.status.value


def test_one_mouse_gesture_is_one_undo_step(widget):
    from types import SimpleNamespace

    start = widget.editor.vertices
    event = SimpleNamespace(type="mouse_press")
    gesture = widget._on_mouse_drag(widget.handles, event)
    next(gesture)
    event.type = "mouse_move"
    for _ in range(3):  # napari moves the point at every mouse move
        _drag(widget, 5, [0.5, 0.0, 0.0])
        next(gesture)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gesture)
    np.testing.assert_allclose(widget.editor.vertices[5], start[5] + [1.5, 0.0, 0.0])
    widget.undo_button.clicked()
    np.testing.assert_array_equal(widget.editor.vertices, start)
    assert not widget.undo_button.enabled
