"""The Detect valve widget runs the detector in the background and adds the result."""

import json

import numpy as np
import pytest

from napari_msdl._napari.widgets.detect_valve import DetectValveWidget
from napari_msdl.geometry import Pose

pytestmark = pytest.mark.gui


@pytest.fixture
def widget(make_napari_viewer, tiny_detector):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    w = DetectValveWidget(viewer)
    w.use_bundled.value = False
    w.model_path.value = str(tiny_detector[0])
    return w


def test_detect_valve_adds_the_box_in_world_coordinates(widget, qtbot, tmp_path):
    viewer = widget.viewer
    image = viewer.layers[0]
    assert widget.image.value is image
    widget.detect_button.clicked()
    qtbot.waitUntil(lambda: widget.detection is not None or "failed" in widget.status.value,
                    timeout=120_000)
    assert widget.detection is not None, widget.status.value
    name = f"{image.name} detected box"
    assert name in viewer.layers and f"{name} axes" in viewer.layers
    box = viewer.layers[name].data
    np.testing.assert_allclose(box[:, 0].mean(0) + box[:, 1].mean(0) / 2,
                               widget.detection.pose.center, atol=1e-6)
    points = viewer.layers[f"{image.name} candidates: position"]
    assert not points.visible and len(points.data) > 0
    assert "vs ground truth" in widget.status.value
    out = widget.save_pose(tmp_path / "pose")
    doc = json.loads(out.read_text())
    assert Pose.from_dict(doc["pose"]).allclose(widget.detection.pose)
    assert len(doc["corners"]) == 8


def test_cancel_stops_the_detection_and_changes_nothing(widget, qtbot, monkeypatch):
    """A detection that would run for 30 s reports progress; Cancel must end it at its next
    report, with no result and no layers (a Cancel that does nothing lets it finish)."""
    import time

    import napari_msdl.pipeline as pipeline

    real = pipeline.find_valve

    def slow_find_valve(volume, model, progress):
        end = time.monotonic() + 30
        while time.monotonic() < end:
            progress("position", 1, 1000)
            time.sleep(0.01)
        return real(volume, model, progress=progress)

    monkeypatch.setattr(pipeline, "find_valve", slow_find_valve)
    widget.detect_button.clicked()
    qtbot.waitUntil(lambda: "position" in widget.status.value, timeout=10_000)
    widget.cancel_button.clicked()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=60_000)
    assert widget.detection is None
    assert "Cancelled" in widget.status.value
    assert not any("detected box" in layer.name for layer in widget.viewer.layers)
    assert widget.detect_button.enabled and not widget.cancel_button.enabled


def test_a_bad_model_folder_is_reported_not_raised(widget, tmp_path):
    widget.model_path.value = str(tmp_path)
    widget.run()
    assert "Cannot detect" in widget.status.value


def test_scaled_and_translated_image_gives_the_box_in_world(make_napari_viewer, qtbot,
                                                           tiny_detector):
    from napari_msdl.phantoms import make_phantom

    viewer = make_napari_viewer()
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    viewer.add_image(case.volume.data, scale=(1, 1, 1), translate=(100, -50, 7), name="moved")
    w = DetectValveWidget(viewer)
    w.use_bundled.value = False
    w.model_path.value = str(tiny_detector[0])
    w.run()
    qtbot.waitUntil(lambda: not w.job.running, timeout=120_000)
    assert w.detection is not None, w.status.value
    # the same search on the same voxels: the box is the one found in voxel space,
    # shifted by translate (the grid follows the image's origin)
    from napari_msdl.bundle import load_bundle
    from napari_msdl.detector import detect

    ref = detect(case.volume, load_bundle(tiny_detector[0]).detector, device="cpu")
    np.testing.assert_allclose(w.detection.pose.center - ref.pose.center, [100, -50, 7],
                               atol=1e-6)
    np.testing.assert_allclose(w.detection.pose.size, ref.pose.size, rtol=1e-9)


def test_a_bundle_with_a_boundary_model_also_gives_the_valve_mesh(make_napari_viewer, qtbot,
                                                                 tiny_valve_model, tmp_path):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    w = DetectValveWidget(viewer)
    w.use_bundled.value = False
    w.model_path.value = str(tiny_valve_model)
    w.run()
    qtbot.waitUntil(lambda: not w.job.running, timeout=120_000)
    assert w.result is not None and w.result.segmentation is not None, w.status.value
    name = viewer.layers[0].name
    surface = viewer.layers[f"{name} valve mesh"]
    np.testing.assert_allclose(surface.data[0], w.result.segmentation.vertices, atol=1e-4)
    assert len(viewer.layers[f"{name} valve mesh (2D cut)"].data) > 0
    assert "mesh:" in w.status.value
    assert "box of the mesh vs ground truth" in w.status.value  # the sample has its truth
    doc = json.loads(w.save_pose(tmp_path / "out.json").read_text())
    assert doc["mesh"]["vertices"] == len(surface.data[0]) and "boundary" in doc["timings"]


def test_only_volumes_to_detect_in_are_offered(widget):
    viewer = widget.viewer
    viewer.add_image(np.zeros((8, 8, 3), np.uint8), rgb=True, name="photo")
    viewer.add_image(np.zeros((20, 20)), name="slice")
    from napari_msdl._napari.layers import AUXILIARY

    viewer.add_image(np.zeros((18, 18, 18)), name="heat map", metadata={AUXILIARY: True})
    assert [layer.name for layer in widget.image.choices] == [viewer.layers[0].name]


def test_a_failed_detection_is_one_status_line_and_no_traceback_notification(widget, qtbot):
    from napari.utils.notifications import notification_manager

    viewer = widget.viewer
    viewer.add_image(np.full((30, 30, 30), 7, np.uint8), name="flat")
    widget.image.value = viewer.layers["flat"]
    before = len(notification_manager.records)
    widget.detect_button.clicked()
    qtbot.waitUntil(lambda: "failed" in widget.status.value, timeout=60_000)
    qtbot.wait(200)
    assert widget.status.value.count("\n") == 0 and "constant" in widget.status.value
    assert len(notification_manager.records) == before
