"""The training view plots the network training now, unless the user looks at another."""

import pytest

from napari_msdl._napari.widgets._training_view import TrainingView

pytestmark = pytest.mark.gui


def _round(view, network, phase, loss):
    view.on_figures(f"{network}: {phase}", {"train_loss": loss, "val_loss": loss + 0.1,
                                            "sparsity": 0.99})


def test_the_curves_follow_the_network_in_training(qtbot):
    view = TrainingView()
    _round(view, "position.cascade1", "pretrain", 0.5)
    _round(view, "position.cascade1", "round 1/2", 0.4)
    assert view.network.value == "position.cascade1"
    _round(view, "position.main", "pretrain", 0.6)
    assert view.network.value == "position.main"
    assert view.curves["position.cascade1"]["train_loss"] == [0.5, 0.4]
    assert view.curves["position.cascade1"]["phase"] == ["pretrain", "round 1/2"]


def test_a_network_the_user_chose_stays_on_screen(qtbot):
    view = TrainingView()
    _round(view, "position.cascade1", "pretrain", 0.5)
    _round(view, "position.main", "pretrain", 0.6)
    view.network.value = "position.cascade1"
    _round(view, "orientation.main", "pretrain", 0.7)
    assert view.network.value == "position.cascade1"
    assert view.network.choices == ("position.cascade1", "position.main", "orientation.main")


def test_report_lines_are_logged_and_a_reset_forgets_them(qtbot):
    view = TrainingView()
    view.on_figures("position.main", {"report": "position.main validation AUC 0.9"})
    assert view.report.toPlainText() == "position.main validation AUC 0.9"
    view.reset()
    assert view.report.toPlainText() == "" and view.curves == {} and view.lines == []
