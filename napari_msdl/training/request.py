"""One training request as a form asks for it: a dataset, where to write, what to start
from (the bundled model, another bundle, or scratch) and a few options; checked whole
before any work, then run by :func:`run_training` (the Train widget's one core call).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from napari_msdl._io import check_number, check_output, check_whole
from napari_msdl._progress import ProgressCallback
from napari_msdl.bundle import BUNDLE_OUTPUT, ValveModel, bundled_model_path, load_bundle
from napari_msdl.dataset import Dataset
from napari_msdl.training.bundle_training import (
    augment_copies,
    fine_tune_config,
    train_bundle,
)
from napari_msdl.training.stage import FINE_TUNE
from napari_msdl.training.train import TrainConfig

BUNDLED = "bundled"
"""``start`` value naming the bundled model."""


@dataclass(frozen=True)
class TrainingRequest:
    """``start``: :data:`BUNDLED`, a bundle folder (fine-tune either) or None (scratch).
    ``epochs``: of pre-training and of every round; ``rounds``: Algorithm 1 rounds (a
    fine-tuned network keeps its map, so its rounds only train); ``inputs_per_filter``:
    from scratch, the main nets' fan-in (the cascades' half of it); ``fov_cut``: share of
    samples cut as by the field of view; ``copies``: augmented copies of every training
    case (None: enough for about 80 cases)."""

    dataset: Path
    out: Path
    start: str | Path | None = BUNDLED
    epochs: int = 6
    rounds: int = 1
    inputs_per_filter: int = 24
    fov_cut: float = 0.0
    copies: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dataset", Path(self.dataset))
        object.__setattr__(self, "out", Path(self.out))
        check_whole("epochs", self.epochs, 1, 100)
        check_whole("rounds", self.rounds, 1, 20)
        check_whole("inputs per filter", self.inputs_per_filter, 2, 5832)
        check_number("field-of-view cut share", self.fov_cut, 0.0, 1.0)
        if self.copies is not None:
            check_whole("augmented copies", self.copies, 0, 200)
        check_whole("seed", self.seed, 0)

    def parent(self) -> ValveModel | None:
        """The model to fine-tune (loaded), or None from scratch."""
        if self.start is None:
            return None
        return load_bundle(None if self.start == BUNDLED else Path(self.start))

    def configs(self, parent: ValveModel | None, ds: Dataset) -> tuple[TrainConfig, object]:
        """The training configuration and, fine-tuning, the epochs of every network."""
        if parent is not None:
            config = fine_tune_config(parent, ds, self.seed)
        else:
            config = TrainConfig().with_epochs(epochs=self.epochs, rounds=self.rounds,
                                               pretrain=self.epochs)
            stage = config.stage
            config = replace(config, stage=replace(
                stage, cascade=replace(stage.cascade,
                                       target_active_inputs=max(1, self.inputs_per_filter // 2)),
                main=replace(stage.main, target_active_inputs=self.inputs_per_filter)))
        config = replace(config, fov_cut_share=self.fov_cut)
        copies = self.copies if self.copies is not None else augment_copies(ds, config,
                                                                             self.seed)
        config = replace(config, augment=replace(config.augment, copies=copies))
        fine_tune = replace(FINE_TUNE, pretrain_epochs=self.epochs,
                            epochs_per_round=self.epochs, rounds=self.rounds)
        return config, fine_tune


def run_training(request: TrainingRequest, progress: ProgressCallback | None = None,
                 command: str | None = None) -> ValveModel:
    """Train or fine-tune as ``request`` says and write the bundle (atomically: a
    cancelled or failed run leaves no model, and an existing one untouched)."""
    ds = Dataset.open(request.dataset)
    start = None if request.start is None else (
        bundled_model_path() if request.start == BUNDLED else Path(request.start))
    check_output(request.out, BUNDLE_OUTPUT, inputs=[ds.root, start])
    parent = request.parent()
    config, fine_tune = request.configs(parent, ds)
    return train_bundle(ds, request.out, config, seed=request.seed, progress=progress,
                        command=command, init=parent, fine_tune=fine_tune)
