"""The Cases widget shows a dataset's cases one at a time, replacing the one shown before."""

import pytest

from napari_msdl._napari.widgets.cases import CasesWidget
from napari_msdl.dataset import Dataset
from napari_msdl.phantoms.dataset import sample_data_path

pytestmark = pytest.mark.gui


def test_next_shows_the_next_case_and_leaves_other_layers(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_points([[1, 2, 3]], name="mine")
    widget = CasesWidget(viewer)
    widget.folder.value = sample_data_path()
    ids = [c.id for c in Dataset.open(sample_data_path())]
    assert list(widget.case.choices) == ids
    widget.open_case()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=60_000)
    assert ids[0] in viewer.layers and "mine" in viewer.layers
    widget.next_button.clicked()
    qtbot.waitUntil(lambda: not widget.job.running, timeout=60_000)
    assert ids[1] in viewer.layers and ids[0] not in viewer.layers
    assert f"{ids[1]} true box" in viewer.layers and f"{ids[0]} true box" not in viewer.layers
    assert "mine" in viewer.layers and "2 of 3" in widget.status.value


def test_a_dataset_opened_from_file_fills_the_case_list(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = CasesWidget(viewer)
    viewer.open(str(sample_data_path()), plugin="napari-msdl")
    assert len(widget.case.choices) == 3 and widget.case.value == "phantom-00000"


def test_a_closed_dock_stops_listening_to_the_viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = CasesWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Cases")
    viewer.window.remove_dock_widget(widget.native)  # what the dock's close button does
    assert not widget.connections._pairs
    viewer.open(str(sample_data_path()), plugin="napari-msdl")
    assert list(widget.case.choices) == []  # it no longer follows datasets being opened
