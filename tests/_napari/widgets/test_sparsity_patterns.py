"""The Sparsity patterns widget shows where a model's filters sample, with its metrics."""

import numpy as np
import pytest

from napari_msdl._napari.layers import box_edges_layer
from napari_msdl._napari.widgets.sparsity_patterns import SparsityPatternsWidget
from napari_msdl.geometry import Pose
from napari_msdl.sparse.inspect import first_sparse_layer

pytestmark = pytest.mark.gui


@pytest.fixture
def widget(make_napari_viewer, tiny_detector):
    w = SparsityPatternsWidget(make_napari_viewer())
    w.use_bundled.value = False
    w.model_path.value = str(tiny_detector[0])
    w.load()
    return w


def test_one_filter_shows_its_points_coloured_by_weight(widget):
    widget.stage.value = "orientation"
    widget.network.value = "orientation.main"
    widget.filter.value = 3
    widget.show_pattern()
    layer = widget.viewer.layers["orientation.main: filter 3"]
    pattern = first_sparse_layer(widget.current_net()).filter_pattern(3)
    np.testing.assert_allclose(layer.data, pattern.ijk)
    np.testing.assert_allclose(layer.features["weight"], pattern.weights)
    assert "density" in widget.summary.value and "scatter" in widget.summary.value
    heat = widget.viewer.layers["orientation.main: filters per grid point"]
    assert heat.data.shape == (18, 18, 18)
    assert heat.data.sum() == first_sparse_layer(widget.current_net()).mask.sum()


def test_all_filters_and_placement_in_a_box(widget):
    pose = Pose(center=[40, 50, 60], angles=[0.1, 0.2, 0.3], size=[30, 30, 24])
    data, meta, _ = box_edges_layer(pose, name="some box")
    widget.viewer.add_vectors(data, **meta)
    widget.placement.reset_choices()
    widget.placement.value = widget.viewer.layers["some box"]
    widget.filter.value = -1
    widget.stage.value = "position"
    widget.network.value = "position.cascade1"
    widget.show_pattern()
    layer = widget.viewer.layers["position.cascade1: all filters"]
    unit = pose.to_box(layer.data)
    assert np.all(np.abs(unit) < 0.5)
    layer_net = first_sparse_layer(widget.current_net())
    assert len(layer.data) == layer_net.active_inputs().numel()


def test_curves_are_plotted_from_the_card(widget):
    widget.stage.value = "scale"
    widget.network.value = "scale.main"
    ax = widget._figure.axes[0]
    assert len(ax.lines) == 1 and len(ax.lines[0].get_xdata()) >= 1
