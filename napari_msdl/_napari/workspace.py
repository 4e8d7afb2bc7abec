"""The MSDL workspace: every widget of the plugin as a tab of one dock.

Docked side by side, the plugin's widgets would stack taller than a screen; as tabs of one
dock of a fixed width, each in a scroll area, the main window stays within a 1280x1024
screen and the canvas keeps at least 600 px, whatever a tab shows. ``napari-msdl view``
opens it with Detect valve in front; Plugins > MSDL aortic valve > MSDL workspace docks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QScrollArea, QTabWidget, QVBoxLayout, QWidget

from napari_msdl._napari.widgets._forms import narrow
from napari_msdl._napari.widgets.cases import CasesWidget
from napari_msdl._napari.widgets.detect_valve import DetectValveWidget
from napari_msdl._napari.widgets.edit_mesh import EditMeshWidget
from napari_msdl._napari.widgets.prune_model import PruneModelWidget
from napari_msdl._napari.widgets.sparsity_patterns import SparsityPatternsWidget
from napari_msdl._napari.widgets.train_model import TrainModelWidget

if TYPE_CHECKING:
    import napari

DOCK_WIDTH = 320
"""Pixels: with napari's layer list and controls on the left, a 1280-pixel-wide window
keeps a canvas of 600 px or more."""


class Workspace(QWidget):
    """Detect valve, Sparsity patterns, Edit mesh, Cases, Train and Prune as tabs of one
    dock. A model that Train or Prune writes is offered to Detect valve and Sparsity
    patterns; the folder Edit mesh saves annotations into is Train's dataset by default."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.detect = DetectValveWidget(viewer)
        self.patterns = SparsityPatternsWidget(viewer)
        self.edit = EditMeshWidget(viewer)
        self.cases = CasesWidget(viewer)
        self.train = TrainModelWidget(viewer)
        self.prune = PruneModelWidget(viewer)
        self.train.trained.connect(self.use_model)
        self.prune.pruned.connect(self.use_model)
        self.edit.dataset.changed.connect(self._annotations_folder)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.setUsesScrollButtons(False)
        self.tabs.setStyleSheet("QTabBar::tab { padding: 4px 3px; }")  # six titles in 320 px
        for title, widget in self.widgets().items():
            narrow(widget)
            holder = QWidget()  # the form at the top, its natural height, the rest empty
            column = QVBoxLayout(holder)
            column.setContentsMargins(4, 4, 4, 4)
            column.addWidget(widget.native)
            column.addStretch(1)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            scroll.setWidget(holder)
            self.tabs.addTab(scroll, title)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.setFixedWidth(DOCK_WIDTH)
        self.setMinimumHeight(200)
        self._docked = False

    def event(self, event) -> bool:  # noqa: D102 - Qt's
        from qtpy.QtCore import QEvent

        if event.type() == QEvent.Type.ParentChange:
            if self.parent() is not None:
                self._docked = True
            elif self._docked:  # napari took the closed dock out of the window
                self.close_widgets()
        return super().event(event)

    def widgets(self) -> dict:
        """The tabs' widgets by tab title."""
        return {"Detect": self.detect, "Patterns": self.patterns, "Edit mesh": self.edit,
                "Cases": self.cases, "Train": self.train, "Prune": self.prune}

    def use_model(self, folder) -> None:
        """Offer the model in ``folder`` (just trained or pruned) to Detect valve and
        Sparsity patterns, and to Prune and Edit mesh's shape model."""
        for choice in (self.detect.model, self.patterns.choice, self.prune.model,
                       self.edit.model):
            choice.use(folder)

    def _annotations_folder(self, value) -> None:
        if str(value) not in ("", "."):
            self.train.use_dataset(value)

    def close_widgets(self) -> None:
        """Disconnect every tab's widget from the viewer and cancel its running job (a
        training or pruning stops at its next report and writes nothing)."""
        for widget in self.widgets().values():
            job = getattr(widget, "job", None)
            if job is not None and job.running:
                job.cancel()
            connections = getattr(widget, "connections", None)
            if connections is not None:
                connections.disconnect_all()

    def show_tab(self, title: str) -> None:
        """Bring the tab called ``title`` to the front."""
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)
                return
        raise ValueError(f"no tab {title!r}")
