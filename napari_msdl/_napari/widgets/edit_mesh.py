"""The Edit mesh dock widget: a thin form over :class:`napari_msdl.boundary.editing.MeshEditor`.

Pick a Surface layer (the valve mesh) and press Start editing: a Points layer
"<mesh> handles" appears over its vertices, in select mode. Dragging a handle (in a 2D
slice or in 3D) moves that vertex and pulls its neighbourhood; the Surface, the handles
and the mesh's 2D cut follow. Snap projects the mesh onto the shape space of a boundary
model; Undo/Redo step through the edits; Save annotation writes the mesh and its box into
a dataset folder. Errors are shown in the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    LineEdit,
    PushButton,
)

from napari_msdl._napari.layers import cut_layer, slice_positions
from napari_msdl._napari.widgets._layers import image_layers, sliced_axis, volume_of_layer
from napari_msdl.boundary.editing import MeshEditor

if TYPE_CHECKING:
    import napari

    from napari_msdl.boundary.shape_space import ShapeSpace


class EditMeshWidget(Container):
    """Correct a valve mesh by hand and save it as an annotation."""

    def __init__(self, viewer: napari.viewer.Viewer):
        from napari_msdl.bundle import bundled_model_path

        super().__init__(labels=True)
        self.viewer = viewer
        self.mesh = ComboBox(label="mesh", choices=self._mesh_choices)
        self.image = ComboBox(label="image", choices=self._image_choices)
        self.model_path = FileEdit(label="shape model", mode="d", value=bundled_model_path())
        self.radius = FloatSpinBox(label="radius (mm)", value=4.0, min=0.5, max=50.0, step=0.5)
        self.start_button = PushButton(text="Start editing")
        self.snap_button = PushButton(text="Snap to shape space", enabled=False)
        self.undo_button = PushButton(text="Undo", enabled=False)
        self.redo_button = PushButton(text="Redo", enabled=False)
        self.dataset = FileEdit(label="dataset folder", mode="d")
        self.case_id = LineEdit(label="case id")
        self.save_button = PushButton(text="Save annotation", enabled=False)
        self.status = Label(label="", value="Pick a mesh and press Start editing.")
        self.status.native.setWordWrap(True)
        self.extend([self.mesh, self.image, self.model_path, self.radius, self.start_button,
                     self.snap_button, self.undo_button, self.redo_button, self.dataset,
                     self.case_id, self.save_button, self.status])
        self.start_button.clicked.connect(self.start)
        self.snap_button.clicked.connect(lambda: self._edit(self.editor.snap, "Snapped"))
        self.undo_button.clicked.connect(lambda: self._edit(self.editor.undo, "Undone"))
        self.redo_button.clicked.connect(lambda: self._edit(self.editor.redo, "Redone"))
        self.save_button.clicked.connect(self.save)
        self.radius.changed.connect(self._set_radius)
        self.model_path.changed.connect(self._load_shape_space)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            event.connect(self.mesh.reset_choices)
            event.connect(self.image.reset_choices)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self.editor: MeshEditor | None = None
        self.surface: Any = None
        self.handles: Any = None
        self._shown: np.ndarray | None = None
        self._gesture: int | None = None
        self._updating = False

    def _mesh_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        from napari.layers import Surface

        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Surface) and layer.ndim == 3]

    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in image_layers(self.viewer)]

    def _shape_space(self, n_vertices: int) -> tuple[ShapeSpace | None, str]:
        """The shape space of the chosen model folder, or None and why not."""
        from napari_msdl.bundle import load_bundle

        try:
            boundary = load_bundle(Path(self.model_path.value)).boundary
        except (OSError, ValueError) as e:
            return None, f"Snap is off: {e}"
        if boundary is None:
            return None, "Snap is off: the model has no boundary model (no shape space)"
        space = boundary.shape_space
        if space.n_vertices != n_vertices:
            return None, (f"Snap is off: the model's shape space has {space.n_vertices} "
                          f"vertices, the mesh {n_vertices}")
        return space, "Snap uses the model's shape space."

    def _load_shape_space(self) -> None:
        if self.editor is not None:
            self.editor.shape_space, message = self._shape_space(len(self.editor.vertices))
            self.status.value = message
            self._sync_buttons()

    def start(self) -> None:
        """Start editing the chosen Surface layer (adds its handles)."""
        layer = self.mesh.value
        if layer is None:
            self.status.value = "No Surface layer: open or detect a mesh first."
            return
        space, message = self._shape_space(len(layer.vertices))
        try:
            editor = MeshEditor(layer.vertices, layer.faces, shape_space=space,
                                radius_mm=self.radius.value)
        except ValueError as e:
            self.status.value = f"Cannot edit: {e}"
            return
        name = f"{layer.name} handles"
        if name in self.viewer.layers:  # editing again: fresh handles (ends the old editing)
            self.viewer.layers.remove(name)
        self.editor, self.surface = editor, layer
        self.handles = self.viewer.add_points(
            self.editor.vertices, name=name, size=0.8, face_color="white", border_width=0,
            opacity=0.8, scale=layer.scale, translate=layer.translate)
        self.handles.mode = "select"
        self.handles.events.data.connect(self._on_handles_changed)
        self.handles.mouse_drag_callbacks.append(self._on_mouse_drag)
        self._shown = self.editor.vertices
        self.save_button.enabled = True
        self._sync_buttons()
        self.status.value = f"Editing {layer.name!r}: drag a handle. {message}"

    def _on_layer_removed(self, event: Any) -> None:
        """Removing the edited Surface or its handles ends the editing (nothing to show)."""
        if self.editor is not None and event.value in (self.surface, self.handles):
            self.editor = None
            self.save_button.enabled = False
            self._sync_buttons()
            self.status.value = "Editing stopped: its layer was removed."

    def _set_radius(self, value: float) -> None:
        if self.editor is not None:
            self.editor.radius_mm = value

    def _on_mouse_drag(self, _layer: Any, event: Any):
        """Each mouse gesture is one edit (one undo step), however many moves it makes."""
        self._gesture = None
        yield
        while event.type == "mouse_move":
            yield
        self._gesture = None

    def _on_handles_changed(self, event: Any = None) -> None:
        if self._updating or self.editor is None:
            return
        if getattr(event, "action", "changed") != "changed":
            return
        data = np.asarray(self.handles.data, dtype=np.float64)
        if data.shape != self._shown.shape:
            self._show("Handles cannot be added or removed; restored them.")
            return
        moved = np.flatnonzero(np.any(data != self._shown, axis=1))
        if len(moved) != 1:
            if len(moved):
                self._show("Drag one handle at a time; restored the others.")
            return
        index = int(moved[0])
        self.editor.drag(index, data[index], continue_last=self._gesture == index)
        self._gesture = index
        self._show(f"Moved vertex {index}.")

    def _edit(self, action: Any, done: str) -> None:
        """Run an editor action (snap, undo, redo) and show the result or the error."""
        try:
            action()
        except ValueError as e:
            self.status.value = str(e)
            return
        self._gesture = None
        self._show(done + ".")

    def _show(self, message: str) -> None:
        """Put the editor's mesh into the Surface, the handles and the mesh's 2D cut."""
        vertices = self.editor.vertices
        self._updating = True
        try:
            self.surface.vertices = vertices.astype(np.float32)
            self.handles.data[:] = vertices
            self.handles.refresh()
            self._shown = vertices
            self._update_cut()
        finally:
            self._updating = False
        self._sync_buttons()
        self.status.value = message

    def _update_cut(self) -> None:
        image = self.image.value
        if image is None:
            return
        axis = sliced_axis(self.viewer)
        data, meta, _ = cut_layer(self.editor.mesh(), slice_positions(volume_of_layer(image), axis),
                                  axis, name=f"{self.surface.name} (2D cut)", color="red")
        name = meta["name"]
        if name in self.viewer.layers:
            self.viewer.layers[name].data = data
        else:
            self.viewer.add_vectors(data, **meta)

    def _sync_buttons(self) -> None:
        e = self.editor
        self.snap_button.enabled = e is not None and e.shape_space is not None
        self.undo_button.enabled = e is not None and e.can_undo
        self.redo_button.enabled = e is not None and e.can_redo

    def save(self) -> None:
        """Save the edited mesh and its box as case ``case id`` of the dataset folder."""
        if self.editor is None:
            self.status.value = "Nothing to save: start editing a mesh first."
            return
        folder, case_id = str(self.dataset.value), self.case_id.value.strip()
        if not folder or folder == ".":
            self.status.value = "Choose a dataset folder."
            return
        try:
            volume = self._volume_for(Path(folder), case_id)
            case = self.editor.save_annotation(folder, case_id, volume=volume)
        except (OSError, ValueError) as e:
            self.status.value = f"Not saved (the edit is kept): {e}"
            return
        self.status.value = f"Saved case {case.id!r} into {folder}"

    def _volume_for(self, folder: Path, case_id: str) -> Any:
        """The chosen image as a Volume for a new case; None for an existing one."""
        from napari_msdl.dataset import MANIFEST, Dataset

        if (folder / MANIFEST).is_file():
            if case_id in {c.id for c in Dataset.open(folder, check_files=False)}:
                return None
        layer = self.image.value
        return volume_of_layer(layer) if layer is not None else None
