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
    w.model.use(tiny_detector[0])
    return w


def test_detect_valve_adds_the_box_in_world_coordinates(widget, qtbot, tmp_path):
    viewer = widget.viewer
    image = viewer.layers[0]
    assert widget.image.value is image
    widget.detect_button.clicked()
    qtbot.waitUntil(lambda: widget.detection is not None or "failed" in widget.status.value,
                    timeout=120_000)
    assert widget.detection is not None, widget.status.value
    name = f"{image.name} box"
    assert name in viewer.layers and f"{name} 2D" in viewer.layers
    edges = viewer.layers[name].data[:12]
    np.testing.assert_allclose(edges[:, 0].mean(0) + edges[:, 1].mean(0) / 2,
                               widget.detection.pose.center, atol=1e-6)
    points = viewer.layers[f"{image.name} candidates"]
    assert not points.visible and len(points.data) > 0
    assert set(points.features["stage"]) == {"position", "orientation", "scale"}
    assert "vs truth" in widget.status.value
    assert viewer.layers.selection.active is image  # the image stays selected
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
    assert not any(layer.name.endswith(" box") and "true" not in layer.name
                   for layer in widget.viewer.layers)
    assert widget.detect_button.enabled and not widget.cancel_button.enabled


def test_a_bad_model_folder_is_reported_not_raised(widget, qtbot, tmp_path):
    widget.model.use(tmp_path)
    widget.run()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=60_000)
    assert "Detection failed" in widget.status.value and "not a napari-msdl model" in \
        widget.status.value
    widget.model.use(tmp_path / "nowhere")
    widget.run()
    assert "Cannot detect" in widget.status.value


def test_scaled_and_translated_image_gives_the_box_in_world(make_napari_viewer, qtbot,
                                                           tiny_detector):
    from napari_msdl.phantoms import make_phantom

    viewer = make_napari_viewer()
    case = make_phantom(2000, shape=(56, 56, 44), spacing=1.0)
    viewer.add_image(case.volume.data, scale=(1, 1, 1), translate=(100, -50, 7), name="moved")
    w = DetectValveWidget(viewer)
    w.model.use(tiny_detector[0])
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
    w.model.use(tiny_valve_model)
    w.run()
    qtbot.waitUntil(lambda: not w.job.running, timeout=120_000)
    assert w.result is not None and w.result.segmentation is not None, w.status.value
    name = viewer.layers[0].name
    surface = viewer.layers[f"{name} mesh"]
    np.testing.assert_allclose(surface.data[0], w.result.segmentation.vertices, atol=1e-4)
    assert len(viewer.layers[f"{name} mesh 2D"].data) > 0
    assert "mesh:" in w.status.value
    assert "box of the mesh vs truth" in w.status.value  # the sample has its truth
    assert "verified: boundary evidence" in w.status.value  # and what verification did
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


def test_in_3d_only_the_box_and_the_mesh_show_and_a_rerun_replaces_them(
        make_napari_viewer, qtbot, tiny_valve_model):
    from napari_msdl._napari.layers import TWO_D_ONLY

    viewer = make_napari_viewer()
    viewer.open_sample("napari-msdl", "phantom-1")
    w = DetectValveWidget(viewer)
    w.model.use(tiny_valve_model)
    w.run()
    qtbot.waitUntil(lambda: not w.job.running, timeout=120_000)
    names = [layer.name for layer in viewer.layers]
    viewer.dims.ndisplay = 3
    shown_2d_only = [layer.name for layer in viewer.layers
                     if layer.visible and layer.metadata.get(TWO_D_ONLY)]
    assert shown_2d_only == []
    image = viewer.layers[0].name
    assert viewer.layers[f"{image} box"].visible and viewer.layers[f"{image} mesh"].visible
    w.run()  # in 3D: the new 2D cuts start hidden, and nothing piles up
    qtbot.waitUntil(lambda: not w.job.running, timeout=120_000)
    assert [layer.name for layer in viewer.layers] == names
    assert not any(layer.visible for layer in viewer.layers if layer.metadata.get(TWO_D_ONLY))
    viewer.dims.ndisplay = 2
    assert viewer.layers[f"{image} mesh 2D"].visible and viewer.layers[f"{image} box 2D"].visible


def test_the_model_loads_off_the_gui_thread_once_and_the_bar_never_goes_back(
        widget, qtbot, monkeypatch):
    import threading
    import time

    from qtpy.QtCore import QTimer

    import napari_msdl.bundle as bundle
    from napari_msdl._napari.widgets._models import forget_models

    forget_models()
    real, threads, ticks, bars = bundle.load_bundle, [], [], []

    def slow_load(path=None):
        threads.append(threading.current_thread() is threading.main_thread())
        time.sleep(1.0)
        return real(path)

    monkeypatch.setattr(bundle, "load_bundle", slow_load)
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(50)
    widget.progress.changed.connect(bars.append)
    for _ in range(2):
        widget.run()
        qtbot.waitUntil(lambda: not widget.job.running, timeout=120_000)
    timer.stop()
    assert threads == [False]  # loaded once, in the worker
    assert len(ticks) >= 10  # the event loop kept turning while it loaded
    first = bars[:bars.index(100) + 1]
    assert first == sorted(first) and first[-1] == 100
