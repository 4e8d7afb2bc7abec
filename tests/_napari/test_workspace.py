"""The MSDL workspace on a 1280x1024 screen: every widget docked as a tab, the window on the
screen and the canvas at least 600 px wide, before and after a detection."""

import pytest

from napari_msdl.cli.view import open_workspace

pytestmark = pytest.mark.gui


def _geometry(viewer, qtbot):
    qtbot.wait(100)
    frame = viewer.window._qt_window.frameGeometry()  # a test may look at the window itself
    return frame.width(), frame.height(), viewer.window._qt_viewer.canvas.native.width()


def test_the_workspace_fits_a_1280x1024_screen_before_and_after_a_detection(
        make_napari_viewer, qtbot, tiny_valve_model):
    from qtpy.QtWidgets import QApplication

    screen = QApplication.primaryScreen().availableGeometry()
    assert (screen.width(), screen.height()) == (1280, 1024), "run under a 1280x1024 screen"
    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 1024)
    viewer, workspace = open_workspace(viewer, [], sample=1)
    tabs = [workspace.tabs.tabText(i) for i in range(workspace.tabs.count())]
    assert tabs == ["Detect", "Patterns", "Edit mesh", "Cases", "Train", "Prune"]
    bar = workspace.tabs.tabBar()  # every title shown whole, no scroll arrows
    assert bar.sizeHint().width() <= workspace.width(), (bar.sizeHint().width(),
                                                         workspace.width())
    assert workspace.tabs.currentIndex() == 0  # Detect valve in front
    width, height, canvas = _geometry(viewer, qtbot)
    assert width <= 1280 and height <= 1024 and canvas >= 600, (width, height, canvas)
    workspace.detect.model.use(tiny_valve_model)
    workspace.detect.run()
    qtbot.waitUntil(lambda: not workspace.detect.job.running, timeout=120_000)
    assert workspace.detect.detection is not None, workspace.detect.status.value
    for i in range(workspace.tabs.count()):  # every tab, after a long status line too
        workspace.tabs.setCurrentIndex(i)
        width, height, canvas = _geometry(viewer, qtbot)
        assert width <= 1280 and height <= 1024 and canvas >= 600, (tabs[i], width, canvas)


def test_closing_the_workspace_disconnects_every_tab(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer, workspace = open_workspace(viewer, [], sample=None)
    tabs = (workspace.detect, workspace.patterns, workspace.edit, workspace.cases)
    assert all(tab.connections._pairs for tab in tabs)
    viewer.window.remove_dock_widget(workspace)
    assert not any(tab.connections._pairs for tab in tabs)
