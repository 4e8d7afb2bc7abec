"""The Edit mesh dock widget: a thin form over :class:`napari_msdl.boundary.editing.MeshEditor`.

Pick a Surface layer (the valve mesh; the latest detected mesh is chosen by itself) and
press Start editing: a Points layer "<mesh> handles" appears over its vertices, in select
mode. Dragging a handle (in a 2D slice or in 3D) moves that vertex and pulls its
neighbourhood; the Surface, the handles and the mesh's 2D cut follow. Snap projects the
mesh onto the shape space of a model bundle's boundary model (loaded in the background);
Undo/Redo step through the edits; Save annotation writes the mesh and its box into a
dataset folder. A control that cannot be used says why in its tooltip; errors are shown in
the status line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, FloatSpinBox, LineEdit, PushButton

from napari_msdl._napari.layers import cut_layer, slice_positions
from napari_msdl._napari.widgets._forms import (
    ModelChoice,
    button_row,
    disabled_because,
    full_width,
    one_line,
    status_label,
)
from napari_msdl._napari.widgets._jobs import BackgroundJob
from napari_msdl._napari.widgets._layers import (
    ViewerConnections,
    image_layers,
    keep_2d_layers_in_2d,
    sliced_axis,
    volume_of_layer,
)
from napari_msdl.boundary.editing import MeshEditor

if TYPE_CHECKING:
    import napari

    from napari_msdl.boundary.shape_space import ShapeSpace

NOT_EDITING = "Start editing a mesh first"


def shape_space_job(path: str | Path | None, progress: Any) -> ShapeSpace:
    """The background job: the shape space of a bundle's boundary model (cached bundle)."""
    from napari_msdl._napari.widgets._models import load_model

    model = load_model(path, progress)
    if model.boundary is None:
        raise ValueError("the model has no boundary model, so no shape space to snap to")
    return model.boundary.shape_space


class EditMeshWidget(Container):
    """Correct a valve mesh by hand and save it as an annotation."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.mesh = ComboBox(label="mesh", choices=self._mesh_choices)
        self.image = ComboBox(label="image", choices=self._image_choices)
        self.model = ModelChoice(label="shape model")
        self.radius = FloatSpinBox(label="radius (mm)", value=4.0, min=0.5, max=50.0, step=0.5)
        self.start_button = PushButton(text="Start editing")
        self.snap_button = PushButton(text="Snap")
        self.undo_button = PushButton(text="Undo")
        self.redo_button = PushButton(text="Redo")
        self.dataset = FileEdit(label="save into", mode="d",
                                tooltip="the dataset folder the annotation is saved into")
        self.case_id = LineEdit(label="case id")
        self.save_button = PushButton(text="Save annotation")
        self.status = status_label("Pick a mesh and press Start editing.", lines=3)
        self.extend([self.mesh, self.image, self.model, self.radius, self.start_button,
                     button_row(self.snap_button, self.undo_button, self.redo_button),
                     self.dataset, self.case_id, self.save_button,
                     full_width(self.status)])
        self.start_button.clicked.connect(self.start)
        self.snap_button.clicked.connect(lambda: self._edit(self.editor.snap, "Snapped"))
        self.undo_button.clicked.connect(lambda: self._edit(self.editor.undo, "Undone"))
        self.redo_button.clicked.connect(lambda: self._edit(self.editor.redo, "Redone"))
        self.save_button.clicked.connect(self.save)
        self.radius.changed.connect(self._set_radius)
        self.model.bundled.changed.connect(self._load_shape_space)
        self.model.folder.changed.connect(self._load_shape_space)
        self.connections = ViewerConnections(self.native)
        for event in (viewer.layers.events.inserted, viewer.layers.events.removed):
            self.connections.connect(event, self._layers_changed)
        self.connections.connect(viewer.layers.events.removed, self._on_layer_removed)
        keep_2d_layers_in_2d(viewer, self.connections)
        self.editor: MeshEditor | None = None
        self.surface: Any = None
        self.handles: Any = None
        self.job: BackgroundJob | None = None
        self._space: tuple[Any, Any] | None = None  # (model choice, its shape space or error)
        self._shown: np.ndarray | None = None
        self._gesture: int | None = None
        self._updating = False
        self._layers_changed()
        self._sync_buttons()

    def _layers_changed(self, event: Any = None) -> None:
        """Refresh the choices; a newly detected mesh becomes the mesh to edit."""
        from napari_msdl._napari.widgets.detect_valve import RESULT

        self.mesh.reset_choices()
        self.image.reset_choices()
        layer = getattr(event, "value", None)
        detected = [c for c in self.mesh.choices
                    if c.metadata.get(RESULT) == "detection"]
        if self.editor is None and (layer in detected or (event is None and detected)):
            self.mesh.value = layer if layer in detected else detected[-1]

    def _mesh_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        from napari.layers import Surface

        return [(layer.name, layer) for layer in self.viewer.layers
                if isinstance(layer, Surface) and layer.ndim == 3]

    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in image_layers(self.viewer)]

    def _load_shape_space(self, *_: Any) -> None:
        """Load the chosen model's shape space in the background (for Snap)."""
        if self.job is not None and self.job.running:
            self.job.cancel()
        try:
            path = self.model.path
        except ValueError as e:
            self._space = (None, f"no shape space: {one_line(e)}")
            self._sync_buttons()
            return
        self._space = token = (path, None)
        self._sync_buttons()
        self.job = BackgroundJob(shape_space_job, path,
                                 on_done=lambda space: self._space_loaded(space, token),
                                 on_error=lambda e: self._space_loaded(e, token)).start()

    def _space_loaded(self, space: Any, token: Any) -> None:
        if token is not self._space:  # another model was chosen meanwhile
            return
        if isinstance(space, BaseException):
            self._space = (None, f"no shape space: {one_line(space)}")
        else:
            self._space = (None, space)
        self._attach_space()

    def _attach_space(self) -> None:
        """Give the editor the loaded shape space when it fits the mesh; say so."""
        space = None if self._space is None else self._space[1]
        if self.editor is not None:
            fits = space is not None and not isinstance(space, str) \
                and space.n_vertices == len(self.editor.vertices)
            self.editor.shape_space = space if fits else None
            if isinstance(space, str):
                self.status.value = f"Editing; Snap is off: {space}"
            elif space is not None and not fits:
                self.status.value = (f"Editing; Snap is off: the model's shape space has "
                                     f"{space.n_vertices} vertices, the mesh "
                                     f"{len(self.editor.vertices)}")
        self._sync_buttons()

    def start(self) -> None:
        """Start editing the chosen Surface layer (adds its handles); the shape space for
        Snap loads in the background meanwhile."""
        layer = self.mesh.value
        if layer is None:
            self.status.value = "No Surface layer: open or detect a mesh first."
            return
        try:
            editor = MeshEditor(layer.vertices, layer.faces, radius_mm=self.radius.value)
        except ValueError as e:
            self.status.value = f"Cannot edit: {one_line(e)}"
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
        self.status.value = f"Editing {layer.name!r}: drag a handle."
        if self._space is None:
            self._load_shape_space()
        else:
            self._attach_space()

    def _on_layer_removed(self, event: Any) -> None:
        """Removing the edited Surface or its handles ends the editing (nothing to show)."""
        if self.editor is not None and event.value in (self.surface, self.handles):
            self.editor = None
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
                                  axis, name=f"{self.surface.name} 2D", color="red")
        name = meta["name"]
        if name in self.viewer.layers:  # the edited cut is red, the one before it cyan
            self.viewer.layers[name].data = data
            self.viewer.layers[name].edge_color = "red"
        else:
            self.viewer.add_vectors(data, **meta)

    def _sync_buttons(self) -> None:
        """Enable what can be used; a disabled control's tooltip says why."""
        e = self.editor
        space = None if self._space is None else self._space[1]
        snap = (NOT_EDITING if e is None else None if e.shape_space is not None
                else "Loading the shape space..." if space is None
                else f"Snap is off: {space}" if isinstance(space, str)
                else "The shape space does not fit this mesh (another vertex count)")
        disabled_because(self.snap_button, snap)
        disabled_because(self.undo_button, NOT_EDITING if e is None
                         else None if e.can_undo else "Nothing to undo yet")
        disabled_because(self.redo_button, NOT_EDITING if e is None
                         else None if e.can_redo else "Nothing to redo")
        disabled_because(self.save_button, NOT_EDITING if e is None else None)

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
