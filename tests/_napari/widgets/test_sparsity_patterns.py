"""The Sparsity patterns widget shows where a model's filters sample, with its metrics."""

import numpy as np
import pytest

from napari_msdl._napari.layers import box_layer
from napari_msdl._napari.widgets.sparsity_patterns import SparsityPatternsWidget
from napari_msdl.geometry import Pose
from napari_msdl.sparse.inspect import first_sparse_layer

pytestmark = pytest.mark.gui


@pytest.fixture
def widget(make_napari_viewer, tiny_detector, qtbot):
    w = SparsityPatternsWidget(make_napari_viewer())
    w.choice.use(tiny_detector[0])
    w.load()
    qtbot.waitUntil(lambda: w.model is not None, timeout=60_000)
    return w


def _show(widget, qtbot):
    widget.show_pattern()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=60_000)


def test_one_filter_shows_its_points_coloured_by_weight(widget, qtbot):
    widget.network.value = "orientation.main"
    widget.filter.value = 3
    _show(widget, qtbot)
    layer = widget.viewer.layers["orientation.main: filter 3"]
    pattern = first_sparse_layer(widget.current_net()).filter_pattern(3)
    np.testing.assert_allclose(layer.data, pattern.ijk)
    np.testing.assert_allclose(layer.features["weight"], pattern.weights)
    assert "density" in widget.summary.value and "scatter" in widget.summary.value
    heat = widget.viewer.layers["orientation.main: filters per grid point"]
    assert heat.data.shape == (18, 18, 18)
    assert heat.data.sum() == first_sparse_layer(widget.current_net()).mask.sum()


def test_all_filters_and_placement_in_a_box(widget, qtbot):
    pose = Pose(center=[40, 50, 60], angles=[0.1, 0.2, 0.3], size=[30, 30, 24])
    data, meta, _ = box_layer(pose, name="some box")
    widget.viewer.add_vectors(data, **meta)
    widget.placement.reset_choices()
    widget.placement.value = widget.viewer.layers["some box"]
    widget.filter.value = -1
    widget.network.value = "position.cascade1"
    _show(widget, qtbot)
    layer = widget.viewer.layers["position.cascade1: all filters"]
    unit = pose.to_box(layer.data)
    assert np.all(np.abs(unit) < 0.5)
    layer_net = first_sparse_layer(widget.current_net())
    assert len(layer.data) == layer_net.active_inputs().numel()


def test_curves_are_plotted_from_the_card(widget):
    widget.network.value = "scale.main"
    widget.plot.value = "curves"
    ax = widget._figure.axes[0]
    assert len(ax.lines) == 1 and len(ax.lines[0].get_xdata()) >= 1


def test_the_seed_figures_are_plotted_for_the_chosen_network(widget):
    from napari_msdl.sparse.connectivity import model_junctions

    widget.network.value = "orientation.main"
    n_junctions = len(model_junctions(widget.current_net()))
    widget.plot.value = "windows"
    assert len(widget._figure.axes) == 2 * n_junctions  # in- and out-window matrix each
    widget.plot.value = "scatter"
    (ax,) = widget._figure.axes
    assert len(ax.patches) == 2 * (n_junctions + 1)  # forward and backward, and end to end
    widget.plot.value = "usage"
    assert len(widget._figure.axes) == 4  # three projections and the colour bar


def test_the_latest_detected_box_is_the_default_placement(widget):
    from napari_msdl._napari.layers import box_layer
    from napari_msdl._napari.widgets.detect_valve import RESULT

    pose = Pose(center=[40, 50, 60], angles=[0.1, 0.2, 0.3], size=[30, 30, 24])
    data, meta, _ = box_layer(pose, name="img box")
    meta["metadata"][RESULT] = "detection"
    widget.viewer.add_vectors(data, **meta)
    assert widget.placement.value is widget.viewer.layers["img box"]


def test_the_grid_placement_frames_the_view_on_the_grid(widget, qtbot):
    widget.placement.value = None
    widget.filter.value = 0
    _show(widget, qtbot)
    points = widget.viewer.layers[f"{widget.network.value}: filter 0"].data
    center = (points.min(0) + points.max(0)) / 2
    displayed = list(widget.viewer.dims.displayed)
    camera = getattr(widget.viewer, "scene", widget.viewer).camera
    np.testing.assert_allclose(camera.center[-2:], center[displayed], atol=1e-6)
    axis = widget.viewer.dims.not_displayed[0]
    assert abs(widget.viewer.dims.point[axis] - center[axis]) <= 1.0
