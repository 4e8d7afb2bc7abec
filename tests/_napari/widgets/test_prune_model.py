"""The Prune widget prunes in the background, shows the before/after table, offers the
result to the other tabs, and Cancel leaves nothing."""

import pytest

pytestmark = pytest.mark.gui


def _form(prune, model, out, data=None):
    prune.model.use(model)
    prune.sparsity.value = 0.995
    prune.rounds.value = 1
    prune.out.value = out
    if data is not None:
        prune.data.value = data
        prune.epochs.value = 1


def test_pruning_without_data_shows_the_before_after_table(workspace, qtbot, tiny_detector,
                                                           tmp_path):
    prune = workspace.prune
    _form(prune, tiny_detector[0], tmp_path / "pruned")
    assert prune.inputs_label.value == "= 29 of 5832 inputs per filter"
    prune.start_button.clicked()
    qtbot.waitUntil(lambda: not prune.job.running, timeout=300_000)
    assert prune.report is not None, prune.status.value
    table = prune.table.value
    assert "<b>position</b>" in table and "cascade1" in table and "not fine-tuned" in table
    assert all(row["fan_in"] == 29 for row in prune.report["after"].values())
    assert table.count("&rarr;29<") == len(prune.report["after"])
    assert prune.out.value == tmp_path / "pruned-pruned", "a new folder next time"
    assert any("inputs per filter" in line for line in prune.view.lines), prune.view.lines
    assert workspace.detect.model.path == tmp_path / "pruned"
    assert workspace.patterns.choice.path == tmp_path / "pruned"


def test_pruning_with_data_fine_tunes_with_live_curves(workspace, qtbot, tiny_detector,
                                                       tmp_path):
    prune = workspace.prune
    _form(prune, tiny_detector[0], tmp_path / "pruned", tiny_detector[1])
    bar = []
    prune.progress.changed.connect(bar.append)
    prune.start_button.clicked()
    qtbot.waitUntil(lambda: not prune.job.running, timeout=300_000)
    assert prune.report is not None, prune.status.value
    assert bar == sorted(bar) and bar[-1] == 100, "one bar, moving once from 0 to 100"
    assert "validation, position / corner" in prune.table.value
    assert prune.view.curves, "no curves while fine-tuning"


def test_cancel_writes_nothing(workspace, qtbot, tiny_detector, tmp_path):
    prune = workspace.prune
    _form(prune, tiny_detector[0], tmp_path / "pruned", tiny_detector[1])
    prune.rounds.value = 20
    prune.epochs.value = 5
    prune.start_button.clicked()
    qtbot.waitUntil(lambda: bool(prune.view.curves) or not prune.job.running,
                    timeout=300_000)
    assert prune.job.running, prune.status.value
    prune.cancel_button.clicked()
    qtbot.waitUntil(lambda: not prune.job.running, timeout=300_000)
    assert prune.status.value == "Cancelled; no model was written."
    assert list(tmp_path.iterdir()) == []
