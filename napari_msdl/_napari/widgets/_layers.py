"""Small viewer helpers shared by the widgets: layers in, volumes out, results back in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from napari_msdl._napari.layers import AUXILIARY
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
    """Replace the data of the layer named ``meta["name"]``, or add it if it is new."""
    name = meta["name"]
    if name in viewer.layers and type(viewer.layers[name]).__name__.lower() == kind:
        viewer.layers.remove(name)
    return getattr(viewer, f"add_{kind}")(data, **meta)
