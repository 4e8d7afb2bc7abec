"""The Sparsity patterns dock widget: where a trained detector's filters sample the box.

Pick a model (bundled by default, or a bundle folder), a stage, a network of that stage
(a cascade level or the main classifier) and a filter (or all filters). The active sample
points appear as a Points layer, in the 18^3 grid's own coordinates or placed in a
detected box on the volume; one filter's points are coloured by signed weight (diverging
colormap) and sized by |weight|; all filters' points are coloured by how many filters
read them. A heat map (18^3 Image layer) counts the filters per grid point. Density,
fan-in, active inputs and scatter are shown beside it, and the training run's sparsity
and loss curves (Algorithm 1, per round) are plotted below.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton, SpinBox

from napari_msdl._napari.widgets._layers import set_layer

if TYPE_CHECKING:
    import napari

GRID_PLACEMENT = "18^3 grid coordinates"


class SparsityPatternsWidget(Container):
    """Inspect the learned sampling patterns of a detector model."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.model: Any = None
        self.use_bundled = CheckBox(value=True, text="bundled phantom model")
        self.model_path = FileEdit(label="model", mode="d", visible=False)
        self.load_button = PushButton(text="Load model")
        self.stage = ComboBox(label="stage", choices=self._stage_choices)
        self.network = ComboBox(label="network", choices=self._network_choices)
        self.filter = SpinBox(label="filter (-1 = all)", value=-1, min=-1, max=0)
        self.placement = ComboBox(label="place in", choices=self._placements)
        self.show_button = PushButton(text="Show pattern")
        self.summary = Label(label="", value="Load a model to see its patterns.")
        self.summary.native.setWordWrap(True)
        self.summary.native.setMinimumHeight(80)
        self.extend([self.use_bundled, self.model_path, self.load_button, self.stage,
                     self.network, self.filter, self.placement, self.show_button, self.summary])
        self.use_bundled.changed.connect(lambda on: setattr(self.model_path, "visible", not on))
        self.load_button.clicked.connect(self.load)
        self.stage.changed.connect(self._stage_changed)
        self.network.changed.connect(self._network_changed)
        self.show_button.clicked.connect(self.show_pattern)
        viewer.layers.events.inserted.connect(self.placement.reset_choices)
        viewer.layers.events.removed.connect(self.placement.reset_choices)
        self._figure, self._canvas = _curves_canvas()
        self.native.layout().addWidget(self._canvas)

    def _placements(self, _widget: Any = None) -> list[tuple[str, Any]]:
        boxes = [(f"box: {layer.name}", layer) for layer in self.viewer.layers
                 if "pose" in getattr(layer, "metadata", {}) and type(layer).__name__ == "Vectors"
                 and not layer.name.endswith("axes")]
        return [(GRID_PLACEMENT, None), *boxes]

    def _stage_choices(self, _widget: Any = None) -> list[str]:
        return [] if self.model is None else list(self.model.detector.stages)

    def _network_choices(self, _widget: Any = None) -> list[str]:
        from napari_msdl.detector.model import parse_network_name

        if self.model is None or self.stage.value not in self.model.detector.stages:
            return []
        return [name for name in self.model.detector.networks()
                if parse_network_name(name)[0] == self.stage.value]

    def load(self) -> None:
        """Load the chosen model and list its stages."""
        from napari_msdl.bundle import load_bundle

        try:
            self.model = load_bundle(None if self.use_bundled.value
                                     else Path(self.model_path.value))
        except (ValueError, FileNotFoundError) as e:
            self.summary.value = f"Cannot load the model: {e}"
            return
        self.stage.reset_choices()
        self._stage_changed()

    def _stage_changed(self, *_: Any) -> None:
        if self.model is None or self.stage.value is None:
            return
        from napari_msdl.detector.model import network_name

        self.network.reset_choices()
        self.network.value = network_name(self.stage.value)
        self._network_changed()

    def current_net(self) -> Any:
        """The network chosen in the stage and network boxes."""
        return self.model.detector.network(self.network.value)

    def _network_changed(self, *_: Any) -> None:
        if self.model is None or self.network.value is None:
            return
        from napari_msdl.sparse.inspect import first_sparse_layer, format_summary, pattern_summary

        net = self.current_net()
        self.filter.max = first_sparse_layer(net).out_features - 1
        self.summary.value = format_summary(pattern_summary(net))
        self._plot_curves()

    def show_pattern(self) -> None:
        """Add (or update) the pattern's Points layer, heat map and grid outline."""
        if self.model is None:
            self.load()
            if self.model is None:
                return
        from napari_msdl._napari.pattern_layers import pattern_layers

        net = self.current_net()
        index = None if self.filter.value < 0 else int(self.filter.value)
        box = self.placement.value
        pose = None if box is None else _pose_of(box)
        name = self.network.value
        for data, meta, kind in pattern_layers(net, index, pose, name):
            set_layer(self.viewer, data, meta, kind)

    def _plot_curves(self) -> None:
        from napari_msdl._napari.pattern_layers import training_curves

        curves = training_curves(self.model.card, self.network.value)
        ax_sparsity, ax_loss = self._figure.axes
        for ax in (ax_sparsity, ax_loss):
            ax.clear()
        if curves is None:
            ax_sparsity.set_title("no training curves in this model's card", fontsize=8)
        else:
            ax_sparsity.plot(curves["round"], 100 * np.asarray(curves["sparsity"]), "o-", ms=3)
            ax_sparsity.set_ylabel("sparsity %", fontsize=8)
            ax_loss.plot(curves["round"], curves["train_loss"], "o-", ms=3, label="train")
            val = [np.nan if v is None else v for v in curves["val_loss"]]
            ax_loss.plot(curves["round"], val, "s-", ms=3, label="validation")
            ax_loss.set_ylabel("loss", fontsize=8)
            ax_loss.set_xlabel("Algorithm 1 round", fontsize=8)
            ax_loss.legend(fontsize=7)
        for ax in (ax_sparsity, ax_loss):
            ax.tick_params(labelsize=7)
        self._figure.tight_layout()
        self._canvas.draw_idle()


def _pose_of(layer: Any) -> Any:
    from napari_msdl.geometry import Pose

    return Pose.from_dict(layer.metadata["pose"])


def _curves_canvas() -> tuple[Any, Any]:
    """A small matplotlib figure (sparsity, loss per round) for the dock."""
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(3.2, 3.0), dpi=90)
    figure.subplots(2, 1, sharex=True)
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(220)
    return figure, canvas
