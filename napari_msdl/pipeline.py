"""The whole job on one volume: the 9-parameter box, then (when the model has a boundary
model) the valve mesh deformed onto the wall.

A model bundle folder holds the detector (``model.json`` + ``weights.safetensors``) and,
optionally, the boundary model (``boundary.json`` + ``boundary.safetensors``) beside it.
:func:`find_valve` is what the Detect valve widget and ``napari-msdl detect`` call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_msdl._progress import ProgressCallback, no_progress

if TYPE_CHECKING:
    from napari_msdl.boundary import BoundaryModel, Segmentation
    from napari_msdl.detector import Detection
    from napari_msdl.detector.model import DetectorModel
    from napari_msdl.volume import Volume


@dataclass
class ValveModel:
    """A loaded bundle: the detector and, if the bundle has one, the boundary model."""

    detector: DetectorModel
    boundary: BoundaryModel | None = None
    path: Path | None = None


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


def load_valve_model(path: str | Path | None = None) -> ValveModel:
    """Load a bundle folder (None: the bundled model), with its boundary model if present."""
    from napari_msdl.boundary import BoundaryModel
    from napari_msdl.detector import load_model
    from napari_msdl.training.bundle import bundled_model_path

    folder = Path(path) if path is not None else bundled_model_path()
    detector = load_model(folder)
    boundary = BoundaryModel.load(folder) if BoundaryModel.present(folder) else None
    return ValveModel(detector=detector, boundary=boundary, path=folder)


def find_valve(volume: Volume, model: ValveModel | str | Path | None = None, *,
               segment_mesh: bool = True, device: str | None = None,
               progress: ProgressCallback | None = None) -> ValveResult:
    """Detect the valve box in ``volume``, then segment the valve mesh if the model can."""
    from napari_msdl.detector import detect

    progress = progress or no_progress
    if not isinstance(model, ValveModel):
        model = load_valve_model(model)
    detection = detect(volume, model.detector, device=device, progress=progress)
    segmentation = None
    if segment_mesh and model.boundary is not None:
        from napari_msdl.boundary import segment

        segmentation = segment(volume, detection.pose, model.boundary, progress=progress)
    return ValveResult(detection, segmentation)
