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
from napari_msdl._napari.widgets.sparsity_patterns import SparsityPatternsWidget

if TYPE_CHECKING:
    import napari

DOCK_WIDTH = 320
"""Pixels: with napari's layer list and controls on the left, a 1280-pixel-wide window
keeps a canvas of 600 px or more."""


class Workspace(QWidget):
    """Detect valve, Sparsity patterns, Edit mesh and Cases as tabs of one dock."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self.viewer = viewer
        self.detect = DetectValveWidget(viewer)
        self.patterns = SparsityPatternsWidget(viewer)
        self.edit = EditMeshWidget(viewer)
        self.cases = CasesWidget(viewer)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, title in ((self.detect, "Detect"), (self.patterns, "Patterns"),
                              (self.edit, "Edit mesh"), (self.cases, "Cases")):
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

    def close_widgets(self) -> None:
        """Disconnect every tab's widget from the viewer."""
        for widget in (self.detect, self.patterns, self.edit, self.cases):
            widget.connections.disconnect_all()

    def show_tab(self, title: str) -> None:
        """Bring the tab called ``title`` to the front."""
        for i in range(self.tabs.count()):
            if self.tabs.tabText(i) == title:
                self.tabs.setCurrentIndex(i)
                return
        raise ValueError(f"no tab {title!r}")
