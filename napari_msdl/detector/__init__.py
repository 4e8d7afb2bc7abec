"""The marginal space detector: hypotheses, pattern gathers, cascade, stages, detection.

``detect(volume, model=None)`` finds the aortic valve box (position -> orientation ->
scale); ``load_model(path=None)`` reads a model bundle (``None``: the bundled model).
"""

from __future__ import annotations

from typing import Any

from napari_msdl.detector.detect import Detection, StageResult, default_device, detect
from napari_msdl.detector.model import STAGES, DetectorModel, SearchParams

__all__ = ["STAGES", "Detection", "DetectorModel", "SearchParams", "StageResult",
           "default_device", "detect", "load_model", "save_model"]


def __getattr__(name: str) -> Any:
    # The bundle reader imports this package, so it is resolved on first use.
    if name in ("load_model", "save_model"):
        from napari_msdl.training import bundle

        return getattr(bundle, name)
    raise AttributeError(f"module 'napari_msdl.detector' has no attribute {name!r}")
