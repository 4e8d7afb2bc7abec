"""The whole job on one volume: the 9-parameter box, then (when the bundle has a boundary
model) the valve mesh deformed onto the wall.

:func:`find_valve` is what the Detect valve widget and ``napari-msdl detect`` call; the
model is a :class:`~napari_msdl.bundle.ValveModel` (:func:`~napari_msdl.bundle.load_bundle`)
or a bundle folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_msdl._progress import ProgressCallback, no_progress
from napari_msdl.bundle import ValveModel, load_bundle

if TYPE_CHECKING:
    from napari_msdl.boundary import Segmentation
    from napari_msdl.detector import Detection
    from napari_msdl.volume import Volume


@dataclass
class ValveResult:
    """The detection and, when a boundary model was available, the segmentation."""

    detection: Detection
    segmentation: Segmentation | None = None

    def to_dict(self) -> dict[str, Any]:
        """The detection's JSON, plus the mesh's timing, vertex count and (with the
        annotation topology) the box derived from the mesh when segmented."""
        doc = self.detection.to_dict()
        if self.segmentation is not None:
            doc["timings"]["boundary"] = float(self.segmentation.seconds)
            doc["mesh"] = {"vertices": int(len(self.segmentation.vertices)),
                           "faces": int(len(self.segmentation.faces)),
                           "iterations": self.segmentation.iterations}
            box = self.segmentation.box()
            if box is not None:
                doc["mesh"]["pose"] = box.to_dict()
        return doc


def find_valve(volume: Volume, model: ValveModel | str | Path | None = None, *,
               segment_mesh: bool = True, device: str | None = None,
               progress: ProgressCallback | None = None) -> ValveResult:
    """Detect the valve box in ``volume``, then segment the valve mesh if the model can.

    ``model``: a loaded bundle, a bundle folder, or None for the bundled model.
    """
    from napari_msdl.detector import detect

    progress = progress or no_progress
    if not isinstance(model, ValveModel):
        model = load_bundle(model)
    detection = detect(volume, model.detector, device=device, progress=progress)
    segmentation = None
    if segment_mesh and model.boundary is not None:
        from napari_msdl.boundary import segment

        segmentation = segment(volume, detection.pose, model.boundary, progress=progress)
    return ValveResult(detection, segmentation)
