"""The Detect valve dock widget: a thin form over :func:`napari_msdl.pipeline.find_valve`.

Pick an image layer and a model (the bundled one by default), press Detect valve: loading
the model (cached per path), the staged detector and, when the bundle has one, the boundary
model run in a background thread, with one progress bar over the whole job, the stage
named, and a Cancel that stops it at its next report. The result appears in world
coordinates (the image's ``scale``/``translate`` respected) as one clear thing, named by
the image: ``"<image> box"`` and ``"<image> mesh"`` (3D) with their cuts in the 2D slices
(``"... 2D"``, shown only in 2D), and, hidden unless asked for, every stage's kept
candidates (``"<image> candidates"``). Running again replaces the result; the image stays
the selected layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, ProgressBar, PushButton

from napari_msdl._napari.layers import valve_layers
from napari_msdl._napari.widgets._forms import (
    ModelChoice,
    button_row,
    full_width,
    one_line,
    status_label,
)
from napari_msdl._napari.widgets._jobs import DETECTION_SHARES, BackgroundJob, StageProgress
from napari_msdl._napari.widgets._layers import (
    ViewerConnections,
    image_layers,
    keep_2d_layers_in_2d,
    set_layer,
    sliced_axis,
    true_pose_of,
    volume_of_layer,
)

if TYPE_CHECKING:
    import napari

    from napari_msdl.detector import Detection
    from napari_msdl.pipeline import ValveResult
    from napari_msdl.volume import Volume

RESULT = "napari_msdl_result"
"""Metadata key naming what made a layer (``"detection"``): Edit mesh starts on the latest
detected mesh."""


def detect_job(volume: Volume, model: str | Path | None, progress: Any) -> ValveResult:
    """The background job: the (cached) bundle, then the box and the mesh."""
    from napari_msdl._napari.widgets._models import load_model
    from napari_msdl.pipeline import find_valve

    return find_valve(volume, load_model(model, progress), progress=progress)


class DetectValveWidget(Container):
    """Detect the aortic valve box (and mesh) in the chosen image layer."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.image = ComboBox(label="image", choices=self._image_choices)
        self.model = ModelChoice()
        self.detect_button = PushButton(text="Detect valve")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=100)
        self.status = status_label("Pick an image and press Detect valve.", lines=7)
        self.show_candidates = CheckBox(value=False, text="show every stage's candidates")
        self.save_button = PushButton(text="Save pose as JSON...", enabled=False,
                                      tooltip="Detect first: there is no pose to save yet")
        self.extend([self.image, self.model, button_row(self.detect_button, self.cancel_button),
                     self.progress, full_width(self.status), self.show_candidates,
                     self.save_button])
        self.detect_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self._ask_save)
        self.show_candidates.changed.connect(self._show_candidates)
        self.connections = ViewerConnections(self.native)
        self.connections.connect(viewer.layers.events.inserted, self.image.reset_choices)
        self.connections.connect(viewer.layers.events.removed, self.image.reset_choices)
        keep_2d_layers_in_2d(viewer, self.connections)
        self.job: BackgroundJob | None = None
        self.result: ValveResult | None = None
        self.detection: Detection | None = None
        self._layer_name = ""

    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in image_layers(self.viewer)]

    def run(self) -> None:
        """Start a detection on the chosen layer (errors go to the status line)."""
        layer = self.image.value
        if layer is None:
            self.status.value = "No image layer: open a volume first."
            return
        if self.job is not None and self.job.running:
            return
        try:
            volume = volume_of_layer(layer)
            model = self.model.path
        except (ValueError, FileNotFoundError) as e:
            self.status.value = f"Cannot detect: {one_line(e)}"
            return
        self._layer_name, self._volume = layer.name, volume
        self._true_pose = true_pose_of(layer)
        self._set_running(True)
        self._stages = StageProgress(DETECTION_SHARES)
        self.status.value = "Detecting..."
        self.job = BackgroundJob(detect_job, volume, model, on_progress=self._on_progress,
                                 on_done=self._on_done, on_error=self._on_error,
                                 on_cancelled=self._on_cancelled).start()

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.value = "Cancelling..."

    def _set_running(self, running: bool) -> None:
        self.detect_button.enabled = not running
        self.cancel_button.enabled = running
        if running:
            self.progress.value = 0

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        fraction = self._stages.update(stage, done, total)
        self.progress.value = int(round(100 * fraction))
        self.status.value = f"{stage}: {done} of {total}"

    def _on_error(self, exc: BaseException) -> None:
        self._set_running(False)
        self.status.value = f"Detection failed: {one_line(exc)}"

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.progress.value = 0
        self.status.value = "Cancelled; nothing was changed."

    def _on_done(self, result: ValveResult) -> None:
        self._set_running(False)
        self.progress.value = 100
        self.result, self.detection = result, result.detection
        mesh = result.segmentation.mesh() if result.segmentation is not None else None
        self.show_result(result.detection, mesh, self._volume, self._layer_name)
        self.save_button.enabled = True
        self.save_button.tooltip = ""
        self.status.value = describe(result, self._true_pose)

    def show_result(self, detection: Detection, mesh: Any, volume: Volume, name: str) -> None:
        """Add (or replace) the result layers of ``detection`` (and ``mesh``) on image
        ``name``."""
        axis = sliced_axis(self.viewer)
        for data, meta, kind in valve_layers(name, detection.pose, mesh, volume,
                                             color="cyan", axis=axis):
            meta["metadata"] = {**meta.get("metadata", {}), RESULT: "detection"}
            set_layer(self.viewer, data, meta, kind)
        centers = [r.centers for r in detection.stages.values() if len(r.centers)]
        if centers:
            stages = np.concatenate([[s] * len(r.centers)
                                     for s, r in detection.stages.items() if len(r.centers)])
            scores = np.concatenate([r.scores for r in detection.stages.values()
                                     if len(r.centers)])
            meta = {"name": f"{name} candidates", "visible": self.show_candidates.value,
                    "size": 1.5, "features": {"stage": stages, "score": scores.astype(float)},
                    "face_color": "score", "face_colormap": "viridis", "border_width": 0,
                    "projection_mode": "all", "metadata": {RESULT: "candidates"}}
            set_layer(self.viewer, np.concatenate(centers).astype(float), meta, "points")
        if name in self.viewer.layers:
            self.viewer.layers.selection.active = self.viewer.layers[name]

    def _show_candidates(self, on: bool) -> None:
        name = f"{self._layer_name} candidates"
        if name in self.viewer.layers:
            self.viewer.layers[name].visible = bool(on)

    def _ask_save(self) -> None:
        from magicgui.widgets import request_values

        values = request_values(path={"annotation": Path, "label": "save pose to",
                                      "options": {"mode": "w", "filter": "*.json"}},
                                title="Save detected pose")
        if values:
            try:
                self.save_pose(values["path"])
            except (OSError, ValueError) as e:
                self.status.value = f"Not saved: {one_line(e)}"

    def save_pose(self, path: str | Path) -> Path:
        """Write the detection as the JSON that ``napari-msdl detect --out`` writes."""
        from napari_msdl._io import check_output, dumps_json, write_text_atomic
        from napari_msdl.detector.detect import DETECTION_OUTPUT

        if self.result is None:
            raise ValueError("nothing detected yet")
        path = Path(path)
        if path.suffix.lower() != ".json":
            path = path.with_suffix(".json")
        check_output(path, DETECTION_OUTPUT, what="JSON file")
        write_text_atomic(path, dumps_json(self.result.to_dict()))
        self.status.value = f"Saved {path}"
        return path


def describe(result: ValveResult, true_pose: Any = None) -> str:
    """The text the widget shows: the pose, the score, the timings, and errors vs truth."""
    from napari_msdl.geometry import corner_error, position_error

    detection = result.detection
    p = detection.pose
    fmt = lambda a, k=1: ", ".join(f"{v:.{k}f}" for v in a)  # noqa: E731
    lines = [f"center (mm): {fmt(p.center)}",
             f"angles (deg): {fmt(np.degrees(p.angles))}",
             f"size (mm): {fmt(p.size)}",
             f"score: {detection.score:.3f}   box: {detection.timings['total']:.2f} s"]
    if result.segmentation is not None:
        lines.append(f"mesh: {result.segmentation.iterations} iterations, "
                     f"{result.segmentation.seconds:.2f} s")
    if result.verification is not None:
        lines.append(result.verification.summary())
    box = result.segmentation.box() if result.segmentation is not None else None
    if true_pose is not None:
        lines.append(f"vs truth: position {position_error(p, true_pose):.2f} mm, "
                     f"corner {corner_error(p, true_pose):.2f} mm")
        if box is not None:
            lines.append(f"box of the mesh vs truth: position "
                         f"{position_error(box, true_pose):.2f} mm, corner "
                         f"{corner_error(box, true_pose):.2f} mm")
    return "\n".join(lines)
