"""napari-msdl: Marginal Space Deep Learning for the aortic valve in 3D TEE volumes.

The public API, importable without Qt or napari::

    from napari_msdl import load_volume, find_valve, load_bundle

    result = find_valve(load_volume("tee.nii.gz"))   # the bundled model: box, then mesh
    model = load_bundle("my-model")                  # a bundle folder: detector, boundary, card

Names are resolved lazily, so ``import napari_msdl`` is fast and pulls in neither torch
nor napari until a name that needs them is used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "Pose": "napari_msdl.geometry",
    "position_error": "napari_msdl.geometry",
    "corner_error": "napari_msdl.geometry",
    "Volume": "napari_msdl.volume",
    "load_volume": "napari_msdl.volume",
    "save_volume": "napari_msdl.volume",
    "sample": "napari_msdl.volume",
    "make_phantom": "napari_msdl.phantoms",
    "Dataset": "napari_msdl.dataset",
    "ValveModel": "napari_msdl.bundle",
    "load_bundle": "napari_msdl.bundle",
    "save_bundle": "napari_msdl.bundle",
    "find_valve": "napari_msdl.pipeline",
    "detect": "napari_msdl.detector",
    "Detection": "napari_msdl.detector",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'napari_msdl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
