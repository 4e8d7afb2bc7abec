"""Small viewer helpers shared by the widgets: layers in, volumes out, results back in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_msdl._napari.layers import AUXILIARY, TWO_D_ONLY
from napari_msdl.geometry import Pose
from napari_msdl.volume import Volume

if TYPE_CHECKING:
    import napari


def image_layers(viewer: napari.viewer.Viewer) -> list[Any]:
    """The viewer's layers that can be a volume to detect in: 3D, grayscale Image layers,
    not the plugin's own auxiliary images, in order."""
    from napari.layers import Image

    return [layer for layer in viewer.layers
            if isinstance(layer, Image) and layer.ndim == 3 and not layer.rgb
            and not layer.metadata.get(AUXILIARY)]


def volume_of_layer(layer: Any) -> Volume:
    """The layer as a :class:`Volume` in mm: spacing = scale, origin = translate.

    A layer with a rotation, shear or affine is refused (its voxels are not on the axes the
    detector assumes), as is an RGB or multichannel one.
    """
    if getattr(layer, "rgb", False):
        raise ValueError(f"layer {layer.name!r} is RGB; the detector needs a grayscale volume")
    if layer.ndim != 3:
        raise ValueError(f"layer {layer.name!r} is {layer.ndim}D; the detector needs a 3D volume")
    for attr in ("rotate", "shear"):
        value = np.asarray(getattr(layer, attr))
        identity = np.eye(3) if attr == "rotate" else np.zeros_like(value)
        if not np.allclose(value, identity):
            raise ValueError(f"layer {layer.name!r} has a {attr}; remove it or resample the image")
    if not np.allclose(np.asarray(layer.affine.affine_matrix), np.eye(4)):
        raise ValueError(f"layer {layer.name!r} has an affine; remove it or resample the image")
    data = np.asarray(layer.data)
    return Volume(data, spacing=tuple(layer.scale), origin=tuple(layer.translate))


def true_pose_of(layer: Any) -> Pose | None:
    """The ground-truth pose a layer carries in ``metadata["true_pose"]``, if any."""
    d = layer.metadata.get("true_pose") if hasattr(layer, "metadata") else None
    return Pose.from_dict(d) if d else None


def sliced_axis(viewer: napari.viewer.Viewer) -> int:
    """The axis that 2D views slice (the first axis not displayed)."""
    not_displayed = viewer.dims.not_displayed
    return int(not_displayed[0]) if len(not_displayed) else 0


def set_layer(viewer: napari.viewer.Viewer, data: Any, meta: dict[str, Any], kind: str) -> Any:
    """Add the layer, replacing one of the same name (a re-run replaces its result instead
    of piling up layers); a 2D-only layer added while the view is 3D starts hidden."""
    name = meta["name"]
    if name in viewer.layers:
        viewer.layers.remove(name)
    meta = dict(meta)
    if meta.get("metadata", {}).get(TWO_D_ONLY) and viewer.dims.ndisplay == 3:
        meta["visible"] = False
        meta["metadata"] = {**meta["metadata"], _HIDDEN_IN_3D: True}
    return getattr(viewer, f"add_{kind}")(data, **meta)


_HIDDEN_IN_3D = "napari_msdl_hidden_in_3d"


def show_2d_layers(viewer: napari.viewer.Viewer, event: Any = None) -> None:
    """Hide the 2D-only layers in 3D (they would cover the box and the mesh with a block of
    lines) and show them again in 2D; a layer the user hid stays hidden."""
    in_3d = viewer.dims.ndisplay == 3
    for layer in viewer.layers:
        if not layer.metadata.get(TWO_D_ONLY):
            continue
        if in_3d and layer.visible:
            layer.metadata[_HIDDEN_IN_3D] = True
            layer.visible = False
        elif not in_3d and layer.metadata.pop(_HIDDEN_IN_3D, False):
            layer.visible = True


class ViewerConnections:
    """The viewer events a widget listens to, connected once and all disconnected when the
    widget goes away: napari takes a closed dock's widget out of the window (its parent
    becomes None) rather than deleting it, so both that and the widget's destruction end
    the connections (a closed dock must not keep reacting to the viewer)."""

    def __init__(self, native: Any) -> None:
        from qtpy.QtCore import QEvent, QObject

        connections = self

        class _Watch(QObject):
            docked = False

            def eventFilter(self, obj: Any, event: Any) -> bool:  # noqa: N802 - Qt's name
                if event.type() == QEvent.Type.ParentChange:
                    if obj.parent() is not None:
                        self.docked = True
                    elif self.docked:
                        connections.disconnect_all()
                return False

        self._pairs: list[tuple[Any, Any]] = []
        self._watch = _Watch(native)
        native.installEventFilter(self._watch)
        native.destroyed.connect(self.disconnect_all)

    def connect(self, emitter: Any, callback: Any) -> None:
        emitter.connect(callback)
        self._pairs.append((emitter, callback))

    def disconnect_all(self, *_: Any) -> None:
        while self._pairs:
            emitter, callback = self._pairs.pop()
            try:
                emitter.disconnect(callback)
            except (TypeError, ValueError, RuntimeError):  # already gone with the viewer
                pass


def keep_2d_layers_in_2d(viewer: napari.viewer.Viewer, connections: ViewerConnections) -> None:
    """Keep :func:`show_2d_layers` applied: now, on every switch between 2D and 3D and for
    every layer added."""
    from functools import partial

    handler = partial(show_2d_layers, viewer)
    connections.connect(viewer.dims.events.ndisplay, handler)
    connections.connect(viewer.layers.events.inserted, handler)
    show_2d_layers(viewer)
