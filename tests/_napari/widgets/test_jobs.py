"""One progress bar over a job that counts its steps."""

import pytest

from napari_msdl._napari.widgets._jobs import StepProgress
from napari_msdl._progress import STEP, Steps


def test_steps_report_every_step_of_the_job():
    calls = []
    steps = Steps(lambda s, d, t: calls.append((s, d, t)), 3)
    for _ in range(4):  # one too many stays at the total
        steps.next()
    assert calls == [(STEP, 0, 3), (STEP, 1, 3), (STEP, 2, 3), (STEP, 3, 3), (STEP, 3, 3)]


def test_the_bar_moves_once_from_0_to_1_over_the_steps():
    """Within a step, its first stage fills half the step's share, the next a quarter..."""
    bar = StepProgress()
    assert bar.update(STEP, 0, 4) == 0.0
    assert bar.update("samples", 1, 2) == pytest.approx(0.25 / 4)
    assert bar.update("samples", 2, 2) == pytest.approx(0.5 / 4)
    assert bar.update("position.cascade1: round 1/2", 0, 2) == pytest.approx(0.5 / 4)
    assert bar.update("position.cascade1: round 1/2", 2, 2) == pytest.approx(0.75 / 4)
    assert bar.update(STEP, 1, 4) == pytest.approx(0.25)
    assert bar.update("position.main: pretrain", 5, 10) == pytest.approx(1.25 / 4)
    assert bar.describe("position.main: pretrain", 5, 10) == \
        "step 2 of 4 | position.main: pretrain: 5 of 10"
    assert bar.update(STEP, 4, 4) == 1.0


def test_without_steps_the_bar_is_the_stage_s_own():
    bar = StepProgress()
    assert bar.update("prune position.main", 1, 4) == 0.25
    assert bar.describe("prune position.main", 1, 4) == "prune position.main: 1 of 4"
