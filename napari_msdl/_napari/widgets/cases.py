"""The Cases dock widget: browse a dataset folder's cases one at a time.

Choose a dataset folder (or open one with File > Open, which shows its first case): the
case list fills, and Open (or Previous / Next) shows a case's image with its true box and
mesh, replacing the case shown before; other layers are left alone. Reading a case runs in
the background.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, Container, FileEdit, PushButton

from napari_msdl._napari.reader import DATASET_KEY
from napari_msdl._napari.widgets._forms import (
    button_row,
    disabled_because,
    full_width,
    one_line,
    status_label,
)
from napari_msdl._napari.widgets._jobs import BackgroundJob
from napari_msdl._napari.widgets._layers import ViewerConnections, set_layer

if TYPE_CHECKING:
    import napari


def case_job(root: str, case_id: str, progress: Any) -> list:
    """The background job of Open: the case's layers, marked as the dataset's."""
    from napari_msdl._napari.sample_data import case_layers
    from napari_msdl.dataset import Dataset

    progress("reading the case", 0, 1)
    layers = case_layers(Dataset.open(root)[case_id])
    for _, meta, _ in layers:
        meta.setdefault("metadata", {})[DATASET_KEY] = {"root": root, "case": case_id}
    progress("reading the case", 1, 1)
    return layers


class CasesWidget(Container):
    """Show the cases of a dataset folder one at a time."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.folder = FileEdit(label="folder", mode="d")
        self.case = ComboBox(label="case", choices=[])
        self.open_button = PushButton(text="Open")
        self.previous_button = PushButton(text="Previous")
        self.next_button = PushButton(text="Next")
        self.status = status_label("Choose a dataset folder (with dataset.json).", lines=3)
        self.extend([self.folder, self.case,
                     button_row(self.previous_button, self.open_button, self.next_button),
                     full_width(self.status)])
        self.folder.changed.connect(self._folder_changed)
        self.open_button.clicked.connect(self.open_case)
        self.previous_button.clicked.connect(lambda: self._step(-1))
        self.next_button.clicked.connect(lambda: self._step(1))
        self.connections = ViewerConnections(self.native)
        self.connections.connect(viewer.layers.events.inserted, self._layer_added)
        self.job: BackgroundJob | None = None
        self._ids: list[str] = []
        self._sync()

    def _sync(self) -> None:
        busy = self.job is not None and self.job.running
        reason = "Reading a case..." if busy else None if self._ids else "Choose a dataset first"
        for button in (self.open_button, self.previous_button, self.next_button):
            disabled_because(button, reason)

    def _layer_added(self, event: Any) -> None:
        """A dataset opened with File > Open: list its cases, its first one chosen."""
        info = event.value.metadata.get(DATASET_KEY)
        if info and Path(info["root"]) != Path(str(self.folder.value)):
            self.folder.value = Path(info["root"])
            if info["case"] in self._ids:
                self.case.value = info["case"]

    def _folder_changed(self, *_: Any) -> None:
        from napari_msdl.dataset import Dataset

        try:
            dataset = Dataset.open(Path(str(self.folder.value)), check_files=False)
        except (OSError, ValueError) as e:
            self._ids = []
            self.case.choices = []
            self.status.value = f"Not a dataset: {one_line(e)}"
        else:
            self._ids = [c.id for c in dataset]
            self.case.choices = self._ids
            annotated = len(dataset.annotated)
            self.status.value = (f"{dataset.name}: {len(self._ids)} cases, {annotated} "
                                 "annotated.")
        self._sync()

    def _step(self, by: int) -> None:
        if not self._ids:
            return
        index = self._ids.index(self.case.value) if self.case.value in self._ids else 0
        self.case.value = self._ids[(index + by) % len(self._ids)]
        self.open_case()

    def open_case(self) -> None:
        """Show the chosen case (replacing the dataset case shown before)."""
        if not self._ids or self.case.value is None:
            self.status.value = "Choose a dataset folder first."
            return
        root, case_id = str(Path(str(self.folder.value))), self.case.value
        self.status.value = f"Reading {case_id}..."
        self.job = BackgroundJob(case_job, root, case_id, on_done=self._opened,
                                 on_error=self._failed).start()
        self._sync()

    def _failed(self, exc: BaseException) -> None:
        self.status.value = f"Cannot open the case: {one_line(exc)}"
        self._sync()

    def _opened(self, layers: list) -> None:
        for layer in [layer for layer in self.viewer.layers if DATASET_KEY in layer.metadata]:
            self.viewer.layers.remove(layer)
        for data, meta, kind in layers:
            set_layer(self.viewer, data, meta, kind)
        case_id = layers[0][1]["metadata"][DATASET_KEY]["case"]
        self.status.value = f"Showing {case_id} ({self._ids.index(case_id) + 1} of " \
                            f"{len(self._ids)})."
        self._sync()
