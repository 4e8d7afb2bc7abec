"""The Train widget fine-tunes in the background: the event loop keeps turning, the curves
and the stage report come as the networks train, Cancel and failures leave no model, and
a new model is offered to Detect valve and Sparsity patterns."""

import hashlib
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


class Heartbeat:
    """Counts the GUI event loop's turns: the longest gap between two timer ticks."""

    def __init__(self, qtbot):
        from qtpy.QtCore import QTimer

        self.last, self.longest = time.monotonic(), 0.0
        self.timer = QTimer()
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = time.monotonic()
        self.longest = max(self.longest, now - self.last)
        self.last = now


def _fine_tune_form(train, model, data, out):
    train.dataset.value = data
    train.start_from.value = "model"
    train.parent_model.value = model
    train.out.value = out
    train.epochs.value = 1
    train.rounds.value = 1
    train.copies.value = 0


def test_a_fine_tune_runs_in_the_background_and_offers_its_model(workspace, qtbot,
                                                                  tiny_detector, tmp_path):
    model, data = tiny_detector
    before = _digest(model)
    train = workspace.train
    _fine_tune_form(train, model, data, tmp_path / "tuned")
    assert not train.parent_model.native.isHidden() and not train.inputs.enabled
    beat = Heartbeat(qtbot)
    bar = []
    train.progress.changed.connect(bar.append)
    train.start_button.clicked()
    assert train.job.running and not train.start_button.enabled
    qtbot.waitUntil(lambda: not train.job.running, timeout=300_000)
    beat.timer.stop()
    assert train.model is not None, train.status.value
    assert beat.longest < 1.0, f"the GUI froze for {beat.longest:.2f} s"
    assert {"position.cascade1", "orientation.main", "scale.main"} <= set(train.view.curves)
    series = train.view.curves["position.main"]
    assert series["phase"][0] == "pretrain" and len(series["train_loss"]) >= 2
    assert any("AUC" in line for line in train.view.lines), train.view.lines
    assert any(line.startswith("validation") for line in train.view.lines), train.view.lines
    assert "Wrote" in train.status.value and train.progress.value == 100
    assert len(set(bar)) > 10 and bar == sorted(bar), "one bar, moving once from 0 to 100"
    assert (tmp_path / "tuned" / "bundle.json").is_file()
    assert workspace.detect.model.path == tmp_path / "tuned"
    assert workspace.patterns.choice.path == tmp_path / "tuned"
    assert _digest(model) == before, "the parent model was changed"
    assert train.out.value != tmp_path / "tuned", "the next run must not replace this model"


def test_cancel_leaves_no_model_and_the_parent_untouched(workspace, qtbot, tiny_detector,
                                                         tmp_path):
    model, data = tiny_detector
    before = _digest(model)
    train = workspace.train
    _fine_tune_form(train, model, data, tmp_path / "tuned")
    train.epochs.value = 20
    train.start_button.clicked()
    qtbot.waitUntil(lambda: bool(train.view.curves) or not train.job.running,
                    timeout=300_000)
    assert train.job.running, train.status.value
    train.cancel_button.clicked()
    qtbot.waitUntil(lambda: not train.job.running, timeout=300_000)
    assert train.status.value == "Cancelled; no model was written."
    assert not (tmp_path / "tuned").exists()
    assert list(tmp_path.iterdir()) == []
    assert _digest(model) == before
    assert workspace.detect.model.bundled.value, "nothing new was offered"


def test_a_failed_training_says_why_and_writes_nothing(workspace, qtbot, tmp_path):
    from napari_msdl.dataset import create_dataset

    empty = create_dataset(tmp_path / "empty").root
    train = workspace.train
    train.dataset.value = empty
    assert train.out.value == tmp_path / "empty-model"  # the default, beside the dataset
    train.start_button.clicked()
    qtbot.waitUntil(lambda: train.job is None or not train.job.running, timeout=120_000)
    assert train.status.value.startswith("Training failed, no model written:"), \
        train.status.value
    assert not (tmp_path / "empty-model").exists()


def test_the_form_refuses_before_any_work(workspace, tmp_path):
    train = workspace.train
    train.start_button.clicked()
    assert train.job is None and train.status.value.startswith("Cannot train: choose a dataset")
    train.dataset.value = tmp_path
    train.start_from.value = "model"
    train.start_button.clicked()
    assert train.job is None and "model folder" in train.status.value


def test_edit_mesh_s_save_folder_is_the_default_dataset(workspace, tmp_path):
    workspace.edit.dataset.value = tmp_path / "annotations"
    assert Path(workspace.train.dataset.value) == tmp_path / "annotations"
    workspace.train.dataset.value = tmp_path / "mine"
    workspace.edit.dataset.value = tmp_path / "other"
    assert Path(workspace.train.dataset.value) == tmp_path / "mine"


def test_closing_the_workspace_cancels_its_training(workspace, qtbot, tiny_detector,
                                                    tmp_path):
    model, data = tiny_detector
    train = workspace.train
    _fine_tune_form(train, model, data, tmp_path / "tuned")
    train.epochs.value = 20
    train.start_button.clicked()
    qtbot.waitUntil(lambda: bool(train.view.curves) or not train.job.running,
                    timeout=300_000)
    workspace.close_widgets()
    qtbot.waitUntil(lambda: not train.job.running, timeout=300_000)
    assert train.status.value == "Cancelled; no model was written."
    assert not (tmp_path / "tuned").exists()
