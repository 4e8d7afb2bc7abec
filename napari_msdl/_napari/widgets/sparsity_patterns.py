"""The Sparsity patterns dock widget: where a trained detector's filters sample the box.

Pick a model (bundled by default, or a bundle folder), a network (``position.cascade1`` ...
``scale.main``) and a filter (or all filters) and press Show pattern. Loading the model
(cached per path) and computing the pattern run in the background. The active sample
points appear as a Points layer placed in a box on the volume: the latest detected box by
default, or a true box, or, when asked, the 18^3 grid's own coordinates (then the view is
framed on it). One filter's points are coloured by signed weight (a diverging colormap:
green positive, pink negative, white near zero) and sized by |weight|; all filters' points
by how many filters read them. In 2D the points near the slice show (a slab about a grid
cell thick). Density, fan-in, active inputs and scatter are shown beside, and one of Dey et
al.'s plots for the network below: training curves, input usage, window adjacency matrices
of each junction, scatter per junction.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, PushButton, SpinBox

from napari_msdl._napari.pattern_plots import PLOTS
from napari_msdl._napari.widgets._forms import (
    ModelChoice,
    button_row,
    disabled_because,
    full_width,
    one_line,
    plot_canvas,
    status_label,
)
from napari_msdl._napari.widgets._jobs import BackgroundJob
from napari_msdl._napari.widgets._layers import ViewerConnections, set_layer
from napari_msdl._napari.widgets.detect_valve import RESULT

if TYPE_CHECKING:
    import napari

GRID_PLACEMENT = "the 18^3 grid itself"
DEFAULT_NETWORK = "orientation.main"
COLOURS = ("one filter: colour = signed weight (green +, pink -), size = |weight|; all "
           "filters: colour = how many filters read the point")


def load_job(path: str | Path | None, progress: Any) -> Any:
    """The background job of Load: the (cached) bundle."""
    from napari_msdl._napari.widgets._models import load_model

    return load_model(path, progress)


def pattern_job(net: Any, filter_index: int | None, pose: Any, name: str,
                progress: Any) -> tuple[list, str]:
    """The background job of Show pattern: the layers and the summary text."""
    from napari_msdl._napari.pattern_layers import pattern_layers
    from napari_msdl.sparse.inspect import format_summary, pattern_summary

    progress("pattern", 0, 2)
    layers = pattern_layers(net, filter_index, pose, name)
    progress("pattern", 1, 2)
    text = format_summary(pattern_summary(net))
    progress("pattern", 2, 2)
    return layers, text


class SparsityPatternsWidget(Container):
    """Inspect the learned sampling patterns of a detector model."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.model: Any = None
        self.choice = ModelChoice()
        self.load_button = PushButton(text="Load model")
        self.network = ComboBox(label="network", choices=self._network_choices)
        self.filter = SpinBox(label="filter (-1 all)", value=-1, min=-1, max=0)
        self.placement = ComboBox(label="place in", choices=self._placements)
        self.show_button = PushButton(text="Show pattern")
        self.summary = status_label("Load a model to see its patterns.", lines=5)
        self.plot = ComboBox(label="plot", choices=[(v, k) for k, v in PLOTS.items()])
        self.extend([self.choice, self.load_button, self.network, self.filter, self.placement,
                     button_row(self.show_button), full_width(self.summary), self.plot])
        self.load_button.clicked.connect(self.load)
        self.network.changed.connect(self._network_changed)
        self.plot.changed.connect(self._draw_plot)
        self.show_button.clicked.connect(self.show_pattern)
        self.connections = ViewerConnections(self.native)
        self.connections.connect(viewer.layers.events.inserted, self._layer_added)
        self.connections.connect(viewer.layers.events.removed, self.placement.reset_choices)
        self._figure, self._canvas = plot_canvas()
        self.native.layout().addWidget(self._canvas)
        self.job: BackgroundJob | None = None
        self._sync()

    # -- choices --------------------------------------------------------------------
    def _placements(self, _widget: Any = None) -> list[tuple[str, Any]]:
        """Boxes on the volume, the latest detected first, then the grid."""
        boxes = [layer for layer in self.viewer.layers
                 if "pose" in layer.metadata and type(layer).__name__ == "Vectors"]
        boxes.sort(key=lambda layer: layer.metadata.get(RESULT) != "detection")
        return [*((f"box: {layer.name}", layer) for layer in boxes), (GRID_PLACEMENT, None)]

    def _layer_added(self, event: Any) -> None:
        """A new detected box becomes the placement."""
        self.placement.reset_choices()
        layer = event.value
        if layer.metadata.get(RESULT) == "detection" and "pose" in layer.metadata:
            self.placement.value = layer

    def _network_choices(self, _widget: Any = None) -> list[str]:
        return [] if self.model is None else list(self.model.detector.networks())

    def _sync(self) -> None:
        busy = self.job is not None and self.job.running
        disabled_because(self.load_button, "Working..." if busy else None)
        disabled_because(self.show_button, "Working..." if busy else None)
        disabled_because(self.network, None if self.model is not None
                         else "Load a model first")
        disabled_because(self.filter, None if self.model is not None else "Load a model first")

    # -- loading ----------------------------------------------------------------------
    def load(self, then_show: bool = False) -> None:
        """Load the chosen model in the background and list its networks."""
        try:
            path = self.choice.path
        except ValueError as e:
            self.summary.value = f"Cannot load the model: {one_line(e)}"
            return
        self.summary.value = "Loading the model..."
        self.job = BackgroundJob(load_job, path, on_error=self._failed,
                                 on_done=lambda model: self._loaded(model, then_show)).start()
        self._sync()

    def _failed(self, exc: BaseException) -> None:
        self.summary.value = f"Failed: {one_line(exc)}"
        self._sync()

    def _loaded(self, model: Any, then_show: bool) -> None:
        self.model = model
        self.network.reset_choices()
        names = list(model.detector.networks())
        self.network.value = DEFAULT_NETWORK if DEFAULT_NETWORK in names else names[-1]
        self.summary.value = f"Loaded {model.path.name}: {len(names)} networks. {COLOURS}."
        self._sync()
        self._network_changed()
        if then_show:
            self.show_pattern()

    def current_net(self) -> Any:
        """The network chosen in the network box."""
        return self.model.detector.network(self.network.value)

    def _network_changed(self, *_: Any) -> None:
        if self.model is None or self.network.value is None:
            return
        from napari_msdl.sparse.inspect import first_sparse_layer

        self.filter.max = first_sparse_layer(self.current_net()).out_features - 1
        self._draw_plot()

    # -- showing ----------------------------------------------------------------------
    def show_pattern(self) -> None:
        """Add (or replace) the pattern's layers, computed in the background."""
        if self.model is None:
            self.load(then_show=True)
            return
        index = None if self.filter.value < 0 else int(self.filter.value)
        box = self.placement.value
        pose = None if box is None else _pose_of(box)
        self.summary.value = "Computing the pattern..."
        self.job = BackgroundJob(pattern_job, self.current_net(), index, pose,
                                 self.network.value, on_error=self._failed,
                                 on_done=lambda result: self._shown(result, pose is None)).start()
        self._sync()

    def _shown(self, result: tuple[list, str], in_grid: bool) -> None:
        layers, text = result
        added = [set_layer(self.viewer, data, meta, kind) for data, meta, kind in layers]
        self.summary.value = f"{text}\n{COLOURS}."
        if in_grid:
            _frame(self.viewer, added)
        self._sync()

    def _draw_plot(self, *_: Any) -> None:
        from napari_msdl._napari.pattern_layers import training_curves
        from napari_msdl._napari.pattern_plots import draw

        if self.model is None or self.network.value is None:
            return
        draw(self._figure, self.plot.value, self.current_net(),
             training_curves(self.model.card, self.network.value))
        self._canvas.draw_idle()


def _pose_of(layer: Any) -> Any:
    from napari_msdl.geometry import Pose

    return Pose.from_dict(layer.metadata["pose"])


def _frame(viewer: Any, layers: list[Any]) -> None:
    """Frame the view on the grid (which lies at the world origin, not on the volume) and
    move the slice into it: from the whole scene's framing, zoom in by its size over the
    grid's."""
    points = np.concatenate([np.asarray(layer.data).reshape(-1, 3) for layer in layers
                             if type(layer).__name__ == "Points" and len(layer.data)])
    lo, hi = points.min(0), points.max(0)
    center = (lo + hi) / 2
    viewer.reset_view()
    camera = getattr(viewer, "scene", viewer).camera  # napari 0.9 moved it to the scene
    scene = float(np.max(np.ptp(np.asarray(viewer.layers.extent.world), axis=0)))
    displayed = list(viewer.dims.displayed)
    camera.center = tuple(center[displayed])
    for axis in viewer.dims.not_displayed:
        viewer.dims.set_point(axis, float(center[axis]))
    camera.zoom = camera.zoom * 0.8 * scene / (float(np.max(hi - lo)) + 1.0)
