"""The Prune widget: a thin form over :func:`napari_msdl.training.prune_bundle`.

Pick a model (the bundled one by default), a target sparsity, the Algorithm 1 rounds and,
optionally, a dataset to fine-tune on after every round; press Start: the pruning runs in
the background with live curves (with a dataset) and each network's new fan-in as it
comes, then shows the before/after table (active inputs per network, seconds per 100k
hypotheses, validation errors). The result is offered to Detect valve and Sparsity
patterns (:attr:`PruneModelWidget.pruned`); Cancel or a failure writes nothing.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from magicgui.widgets import Container, FileEdit, FloatSpinBox, ProgressBar, PushButton, SpinBox
from psygnal import Signal

from napari_msdl._napari.widgets._forms import (
    ModelChoice,
    button_row,
    chosen,
    full_width,
    one_line,
    status_label,
    unique_folder,
)
from napari_msdl._napari.widgets._jobs import BackgroundJob
from napari_msdl._napari.widgets._training_view import TrainingView

if TYPE_CHECKING:
    import napari

N_INPUTS = 5832


def prune_job(model: Path | None, out: Path, config: Any, data: Path | None,
              progress: Any) -> tuple[Any, dict]:
    """The background job: the bundle pruned and written."""
    from napari_msdl.training import prune_bundle

    return prune_bundle(model, out, config, data, progress=progress,
                        command="napari-msdl Prune widget")


def before_after_html(report: dict[str, Any]) -> str:
    """The before/after table of a pruning report as a small HTML table: per network the
    inputs each first-layer filter reads, the inputs all its filters read together (what
    detection gathers) and the seconds to score 100k hypotheses."""
    rows = ["<tr><th>network</th><th>per filter</th><th>read in all</th>"
            "<th>s / 100k</th></tr>"]
    for name, b in report["before"].items():
        a = report["after"][name]
        rows.append(f"<tr><td>{escape(name)}</td><td>{b['fan_in']:.0f} &rarr; "
                    f"{a['fan_in']:.0f}</td><td>{b['active_inputs']} &rarr; "
                    f"{a['active_inputs']}</td><td>{b['seconds_per_100k']:.3f} &rarr; "
                    f"{a['seconds_per_100k']:.3f}</td></tr>")
    html = "<table cellspacing=2>" + "".join(rows) + "</table>"
    if "validation_before" in report:
        vb, va = report["validation_before"], report["validation_after"]
        html += (f"<p>validation, position / corner (mm): {vb['position_error_mean']:.2f} / "
                 f"{vb['corner_error_mean']:.2f} &rarr; {va['position_error_mean']:.2f} / "
                 f"{va['corner_error_mean']:.2f}</p>")
    else:
        html += "<p>no dataset: not fine-tuned, no validation errors</p>"
    return html


class PruneModelWidget(Container):
    """Prune a model's detector networks to a target sparsity, in the background."""

    pruned = Signal(object)
    """Emitted with the pruned model's folder when a pruning succeeds."""

    def __init__(self, viewer: napari.viewer.Viewer):
        self.viewer = viewer
        self.model = ModelChoice()
        self.sparsity = FloatSpinBox(label="target sparsity", value=0.998, min=0.5,
                                     max=0.9999, step=0.0005, tooltip=(
                                         "Share of zero weights in every first-layer filter"))
        self.sparsity.native.setDecimals(4)
        self.inputs_label = status_label("", lines=1)
        self.rounds = SpinBox(label="rounds", value=3, min=1, max=100,
                              tooltip="Algorithm 1 rounds to reach the target")
        self.data = FileEdit(mode="d", label="fine-tune on", tooltip=(
            "Optional: an annotated dataset to fine-tune on after every round and to "
            "measure the validation errors on (without it, weights are only removed)"))
        self.epochs = SpinBox(label="epochs / round", value=1, min=0, max=100)
        self.out = FileEdit(mode="d", label="save as",
                            tooltip="A new folder for the pruned model")
        self.start_button = PushButton(text="Start pruning")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=100)
        self.status = status_label("Pick a model and a target, then press Start pruning.",
                                   lines=3)
        self.table = status_label("", lines=1)
        self.view = TrainingView()
        super().__init__(widgets=[
            self.model, self.sparsity, full_width(self.inputs_label), self.rounds, self.data,
            self.epochs, self.out, button_row(self.start_button, self.cancel_button),
            self.progress, full_width(self.status), full_width(self.table), self.view])
        self.sparsity.changed.connect(self._show_inputs)
        self.start_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self._show_inputs(self.sparsity.value)
        self.job: BackgroundJob | None = None
        self.report: dict | None = None

    def _show_inputs(self, sparsity: float) -> None:
        inputs = max(1, round((1 - float(sparsity)) * N_INPUTS))
        self.inputs_label.value = f"= {inputs} of {N_INPUTS} inputs per filter"

    def run(self) -> None:
        """Start the pruning the form asks for (errors go to the status line)."""
        from napari_msdl.bundle import bundled_model_path
        from napari_msdl.training import PruneConfig

        if self.job is not None and self.job.running:
            return
        try:
            model = self.model.path
            config = PruneConfig(sparsity=float(self.sparsity.value), rounds=self.rounds.value,
                                 epochs_per_round=self.epochs.value)
            data = Path(self.data.value) if chosen(self.data.value) else None
            if data is not None and not data.is_dir():
                raise ValueError(f"the dataset folder {data} does not exist")
            if chosen(self.out.value):
                out = Path(self.out.value)
            else:
                folder = Path.cwd() if model is None else model.parent
                name = (model or bundled_model_path()).name
                out = unique_folder(folder / f"{name}-pruned")
                self.out.value = out
        except ValueError as e:
            self.status.value = f"Cannot prune: {one_line(e)}"
            return
        self._set_running(True)
        self.view.reset()
        self.table.value = ""
        self.status.value = "Starting..."
        self.job = BackgroundJob(prune_job, model, out, config, data,
                                 on_progress=self._on_progress, on_figures=self.view.on_figures,
                                 on_done=self._on_done, on_error=self._on_error,
                                 on_cancelled=self._on_cancelled).start()

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.status.value = "Cancelling..."

    def _set_running(self, running: bool) -> None:
        self.start_button.enabled = not running
        self.cancel_button.enabled = running
        if running:
            self.progress.value = 0

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        self.progress.value = int(round(100 * min(done, total) / max(total, 1)))
        self.status.value = f"{stage}: {done} of {total}"

    def _on_error(self, exc: BaseException) -> None:
        self._set_running(False)
        self.status.value = f"Pruning failed, no model written: {one_line(exc)}"

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.progress.value = 0
        self.status.value = "Cancelled; no model was written."

    def _on_done(self, result: tuple[Any, dict]) -> None:
        model, self.report = result
        self._set_running(False)
        self.progress.value = 100
        self.status.value = f"Wrote {model.path}. Detect valve and Patterns now use it."
        self.table.value = before_after_html(self.report)
        self.pruned.emit(model.path)
