"""The marginal space detector: hypotheses, pattern gathers, cascade, stages, detection.

``detect(volume, model)`` finds the aortic valve box (position -> orientation -> scale)
with a :class:`DetectorModel` (the ``detector`` of a loaded bundle,
:func:`napari_msdl.bundle.load_bundle`); ``other_modes(detection)`` the best boxes at the
other places the position stage found. Inference only: training is in
:mod:`napari_msdl.training`.
"""

from napari_msdl.detector.detect import Detection, default_device, detect, other_modes
from napari_msdl.detector.model import (
    STAGES,
    DetectorModel,
    SearchParams,
    network_name,
    parse_network_name,
)
from napari_msdl.detector.stages import StageResult

__all__ = ["STAGES", "Detection", "DetectorModel", "SearchParams", "StageResult",
           "default_device", "detect", "network_name", "other_modes", "parse_network_name"]
