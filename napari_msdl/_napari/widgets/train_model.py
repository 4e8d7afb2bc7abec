"""The Train widget: a thin form over :func:`napari_msdl.training.request.run_training`.

Pick a dataset folder (by default the one Edit mesh saves annotations into), what to start
from (the bundled model or another bundle, fine-tuned; or scratch) and a few options, and
press Start: the training runs in the background with the GUI responsive, the stage and
network being trained named, a live plot of each network's losses and sparsity per round
and the stage report as it comes. On success the new model is offered to Detect valve and
Sparsity patterns (:attr:`TrainModelWidget.trained`); Cancel or a failure leaves no model,
and any existing one untouched (the bundle is written once, whole, at the end).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    ProgressBar,
    PushButton,
    SpinBox,
)
from psygnal import Signal

from napari_msdl._napari.widgets._forms import (
    button_row,
    chosen,
    full_width,
    one_line,
    status_label,
    unique_folder,
)
from napari_msdl._napari.widgets._training_view import ModelJob, TrainingView

if TYPE_CHECKING:
    import napari

    from napari_msdl.bundle import ValveModel

STARTS = {"bundled": "bundled model", "model": "another model", "scratch": "scratch"}
"""What a training starts from: a model to fine-tune, or nothing."""
DEFAULTS = {True: {"epochs": 6, "rounds": 1}, False: {"epochs": 2, "rounds": 5}}
"""Epochs and rounds by whether the run fine-tunes: fine-tuning trains every network a few
epochs with its map kept; from scratch Algorithm 1 sparsifies over its rounds."""


def train_job(request: Any, progress: Any) -> ValveModel:
    """The background job: the request, run."""
    from napari_msdl.training.request import run_training

    return run_training(request, progress=progress, command="napari-msdl Train widget")


def default_output(dataset: Path) -> Path:
    """A new folder beside the dataset for the model trained on it."""
    return unique_folder(dataset.parent / f"{dataset.name}-model")


class TrainModelWidget(ModelJob, Container):
    """Train or fine-tune a model on a dataset folder, in the background."""

    trained = Signal(object)
    """Emitted with the new model's folder when a training succeeds."""
    verb = "Training"

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.dataset = FileEdit(mode="d", label="dataset", tooltip=(
            "The dataset folder (dataset.json): Edit mesh's 'save into' folder by default"))
        self.start_from = ComboBox(label="start from",
                                   choices=[(v, k) for k, v in STARTS.items()],
                                   value="bundled", tooltip=(
                                       "Fine-tune the bundled model or another bundle (a "
                                       "few cases are enough), or train anew from scratch "
                                       "(needs many cases)"))
        self.parent_model = FileEdit(mode="d", label="model", visible=False,
                               tooltip="The model folder (a bundle) to fine-tune")
        self.out = FileEdit(mode="d", label="save as", tooltip=(
            "A new folder for the trained model (never the dataset or the model it starts "
            "from); by default one beside the dataset"))
        self.epochs = SpinBox(label="epochs", value=6, min=1, max=100, tooltip=(
            "Epochs of pre-training and of every Algorithm 1 round, for every network"))
        self.rounds = SpinBox(label="rounds", value=1, min=1, max=20, tooltip=(
            "Algorithm 1 rounds. Fine-tuning keeps each network's sparsity map, so its "
            "rounds only train; prune afterwards for a sparser model"))
        self.inputs = SpinBox(label="inputs / filter", value=24, min=2, max=5832, tooltip=(
            "From scratch: the inputs each main-net filter reads at the end (the cascades "
            "read half as many); 24 of 5832 is 99.6 % sparse"), enabled=False)
        self.fov_cut = FloatSpinBox(label="FOV cut share", value=0.0, min=0.0, max=1.0,
                                    step=0.05, tooltip=(
                                        "Share of training samples cut by a random plane, "
                                        "as by the edge of the field of view"))
        self.copies = SpinBox(label="augment copies", value=-1, min=-1, max=200, tooltip=(
            "Augmented copies of every training case (small rotations, scalings, shifts, "
            "contrast); -1: enough for about 80 cases"))
        self.start_button = PushButton(text="Start training")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=100)
        self.status = status_label("Choose a dataset folder and press Start training.",
                                   lines=3)
        self.view = TrainingView()
        super().__init__(widgets=[
            self.dataset, self.start_from, self.parent_model, self.out, self.epochs, self.rounds,
            self.inputs, self.fov_cut, self.copies,
            button_row(self.start_button, self.cancel_button), self.progress,
            full_width(self.status), self.view])
        self.start_from.changed.connect(self._start_changed)
        self.dataset.changed.connect(self._dataset_changed)
        self.start_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.model: ValveModel | None = None

    def _start_changed(self, start: str) -> None:
        self.parent_model.visible = start == "model"
        defaults = DEFAULTS[start != "scratch"]
        self.epochs.value, self.rounds.value = defaults["epochs"], defaults["rounds"]
        self.inputs.enabled = start == "scratch"
        self.inputs.tooltip = (self.inputs.tooltip.split(" | ")[0]
                               + ("" if start == "scratch" else
                                  " | Fine-tuning keeps each network's fan-in"))

    def _dataset_changed(self, value: Any) -> None:
        folder = Path(str(value))
        if str(value) not in ("", ".") and folder.is_dir() and not chosen(self.out.value):
            self.out.value = default_output(folder)

    def use_dataset(self, folder: str | Path) -> None:
        """Offer ``folder`` (Edit mesh's save folder) unless another was chosen."""
        if not chosen(self.dataset.value):
            self.dataset.value = Path(folder)

    def request(self) -> Any:
        """The training the form asks for; ``ValueError`` naming the field if it cannot."""
        from napari_msdl.training.request import BUNDLED, TrainingRequest

        if not chosen(self.dataset.value) or not Path(self.dataset.value).is_dir():
            raise ValueError("choose a dataset folder (with dataset.json)")
        if not chosen(self.out.value):
            raise ValueError("choose a folder to save the model as")
        start = self.start_from.value
        if start == "model":
            if not chosen(self.parent_model.value) or not Path(self.parent_model.value).is_dir():
                raise ValueError("choose the model folder to fine-tune")
            origin: str | Path | None = Path(self.parent_model.value)
        else:
            origin = BUNDLED if start == "bundled" else None
        return TrainingRequest(dataset=Path(self.dataset.value), out=Path(self.out.value),
                               start=origin, epochs=self.epochs.value,
                               rounds=self.rounds.value,
                               inputs_per_filter=self.inputs.value,
                               fov_cut=self.fov_cut.value,
                               copies=None if self.copies.value < 0 else self.copies.value)

    def run(self) -> None:
        """Start the training the form asks for (errors go to the status line)."""
        if self.running:
            return
        try:
            request = self.request()
        except ValueError as e:
            self.status.value = f"Cannot train: {one_line(e)}"
            return
        self._start(train_job, request)

    def _on_done(self, model: ValveModel) -> None:
        from napari_msdl.training.bundle_training import VERIFIED

        self.model = model
        record = model.card.detector
        v = record.figures.get(VERIFIED, record.figures["validation"])
        lost = v.get("failures")
        self.status.value = (f"Wrote {model.path} ({record.seconds / 60:.1f} min); validation "
                             f"position {v['position_error']['mean']:.2f} mm, corner "
                             f"{v['corner_error']['mean']:.2f} mm"
                             + ("" if lost is None else f", {lost['count']} of {lost['of']} lost")
                             + ". Detect valve and Patterns now use it.")
        self.out.value = default_output(Path(self.dataset.value))  # never this model's
        self.trained.emit(model.path)
