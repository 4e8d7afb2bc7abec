"""The Detect valve dock widget: a thin form over :func:`napari_msdl.pipeline.find_valve`.

Pick an image layer and a model (the bundled one by default), press Detect valve: the
staged detector (and, when the model has one, the boundary model) runs in a background
thread with progress per stage and a Cancel that stops it at its next report. The result
appears in world coordinates (the image's ``scale``/``translate`` respected): the box's 12
edges (3D), its cut in the 2D slices, its axes, the kept candidates of each stage as
Points coloured by score (hidden), and the valve mesh (a Surface in 3D, its contour in 2D).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, ProgressBar, PushButton

from napari_msdl._napari.layers import cut_layer, mesh_layer, pose_layers, slice_positions
from napari_msdl._napari.widgets._jobs import BackgroundJob
from napari_msdl._napari.widgets._layers import (
    image_layers,
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


class DetectValveWidget(Container):
    """Detect the aortic valve box in the chosen image layer."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self.viewer = viewer
        self.image = ComboBox(label="image", choices=self._image_choices)
        self.use_bundled = CheckBox(value=True, text="bundled phantom model")
        self.model_path = FileEdit(label="model", mode="d", visible=False)
        self.detect_button = PushButton(text="Detect valve")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=100)
        self.status = Label(label="", value="Pick an image and press Detect valve.")
        self.status.native.setWordWrap(True)
        self.status.native.setMinimumHeight(110)
        self.save_button = PushButton(text="Save pose as JSON...", enabled=False)
        self.extend([self.image, self.use_bundled, self.model_path, self.detect_button,
                     self.cancel_button, self.progress, self.status, self.save_button])
        self.use_bundled.changed.connect(lambda on: setattr(self.model_path, "visible", not on))
        self.detect_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self._ask_save)
        viewer.layers.events.inserted.connect(self.image.reset_choices)
        viewer.layers.events.removed.connect(self.image.reset_choices)
        self.job: BackgroundJob | None = None
        self.result: ValveResult | None = None
        self.detection: Detection | None = None
        self._layer_name = ""

    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Any]]:
        return [(layer.name, layer) for layer in image_layers(self.viewer)]

    def _model(self) -> Any:
        from napari_msdl.bundle import load_bundle

        if self.use_bundled.value:
            return load_bundle()
        path = Path(self.model_path.value)
        if not str(self.model_path.value) or not path.exists():
            raise ValueError(f"choose a model folder, got {str(path)!r}")
        return load_bundle(path)

    def run(self) -> None:
        """Start a detection on the chosen layer (errors go to the status line)."""
        from napari_msdl.pipeline import find_valve

        layer = self.image.value
        if layer is None:
            self.status.value = "No image layer: open a volume first."
            return
        try:
            volume = volume_of_layer(layer)
            model = self._model()
        except (ValueError, FileNotFoundError) as e:
            self.status.value = f"Cannot detect: {e}"
            return
        self._layer_name = layer.name
        self._volume = volume
        self._true_pose = true_pose_of(layer)
        self._set_running(True)
        self.status.value = "Detecting..."
        self.job = BackgroundJob(find_valve, volume, model, on_progress=self._on_progress,
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
        self.progress.value = int(100 * done / max(total, 1))
        self.status.value = f"{stage}: {done}/{total}"

    def _on_error(self, exc: BaseException) -> None:
        self._set_running(False)
        self.status.value = f"Detection failed: {' '.join(str(exc).split())}"

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.progress.value = 0
        self.status.value = "Cancelled; nothing was changed."

    def _on_done(self, result: ValveResult) -> None:
        self._set_running(False)
        self.progress.value = 100
        self.result, self.detection = result, result.detection
        self.show_detection(result.detection, self._volume, self._layer_name)
        if result.segmentation is not None:
            self.show_mesh(result.segmentation.mesh(), self._volume, self._layer_name)
        self.save_button.enabled = True
        self.status.value = describe(result, self._true_pose)

    def show_detection(self, detection: Detection, volume: Volume, name: str) -> None:
        """Add (or update) the result layers for ``detection`` on the image ``name``."""
        axis = sliced_axis(self.viewer)
        for data, meta, kind in pose_layers(detection.pose, volume, name=f"{name} detected box",
                                            color="cyan", axis=axis):
            set_layer(self.viewer, data, meta, kind)
        for stage, result in detection.stages.items():
            if len(result.centers) == 0:
                continue
            meta = {"name": f"{name} candidates: {stage}", "visible": False, "size": 1.5,
                    "features": {"score": np.asarray(result.scores, dtype=float)},
                    "face_color": "score", "face_colormap": "viridis", "border_width": 0,
                    "projection_mode": "all"}
            set_layer(self.viewer, np.asarray(result.centers, dtype=float), meta, "points")

    def show_mesh(self, mesh: Any, volume: Volume, name: str) -> None:
        """Add (or update) the valve mesh: a Surface (3D) and its contour in the slices."""
        axis = sliced_axis(self.viewer)
        set_layer(self.viewer, *mesh_layer(mesh, name=f"{name} valve mesh", colormap="cyan",
                                           opacity=0.5))
        set_layer(self.viewer, *cut_layer(mesh, slice_positions(volume, axis), axis,
                                          name=f"{name} valve mesh (2D cut)", color="cyan"))

    def _ask_save(self) -> None:
        from magicgui.widgets import request_values

        values = request_values(path={"annotation": Path, "label": "save pose to",
                                      "options": {"mode": "w", "filter": "*.json"}},
                                title="Save detected pose")
        if values:
            try:
                self.save_pose(values["path"])
            except (OSError, ValueError) as e:
                self.status.value = f"Not saved: {' '.join(str(e).split())}"

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
    box = result.segmentation.box() if result.segmentation is not None else None
    if true_pose is not None:
        lines.append(f"vs ground truth: position error {position_error(p, true_pose):.2f} mm, "
                     f"corner error {corner_error(p, true_pose):.2f} mm")
        if box is not None:
            lines.append(f"box of the mesh vs ground truth: position error "
                         f"{position_error(box, true_pose):.2f} mm, corner error "
                         f"{corner_error(box, true_pose):.2f} mm")
    return "\n".join(lines)
