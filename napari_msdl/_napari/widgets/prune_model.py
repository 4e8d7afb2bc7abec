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
from napari_msdl._napari.widgets._training_view import ModelJob, TrainingView

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
    detection gathers) and the milliseconds to score 100k hypotheses."""
    rows = ["<tr><th align=left>network</th><th>inputs<br>per filter</th>"
            "<th>inputs<br>read</th><th>ms per<br>100k</th></tr>"]
    stage = None
    for name, b in report["before"].items():
        a = report["after"][name]
        group, _, net = name.partition(".")
        if group != stage:  # a stage's networks under its name, so the table fits the dock
            stage = group
            rows.append(f"<tr><td colspan=4><b>{escape(group)}</b></td></tr>")
        cells = (f"{b['fan_in']:.0f}&rarr;{a['fan_in']:.0f}",
                 f"{b['active_inputs']}&rarr;{a['active_inputs']}",
                 f"{1000 * b['seconds_per_100k']:.0f}&rarr;{1000 * a['seconds_per_100k']:.0f}")
        rows.append(f"<tr><td nowrap>&nbsp;&nbsp;{escape(net)}</td>"
                    + "".join(f"<td nowrap align=right>{c}</td>" for c in cells) + "</tr>")
    html = ('<table cellspacing=1 style="font-size: 8pt">' + "".join(rows) + "</table>")
    if "validation_before" in report:
        vb, va = report["validation_before"], report["validation_after"]
        html += (f"<p>validation, position / corner (mm): {vb['position_error_mean']:.2f} / "
                 f"{vb['corner_error_mean']:.2f} &rarr; {va['position_error_mean']:.2f} / "
                 f"{va['corner_error_mean']:.2f}</p>")
    else:
        html += "<p>no dataset: not fine-tuned, no validation errors</p>"
    return html


def default_output(model: Path | None) -> Path:
    """A new folder beside ``model`` (the working folder for the bundled model) for it
    pruned."""
    from napari_msdl.bundle import bundled_model_path

    folder = Path.cwd() if model is None else model.parent
    return unique_folder(folder / f"{(model or bundled_model_path()).name}-pruned")


class PruneModelWidget(ModelJob, Container):
    """Prune a model's detector networks to a target sparsity, in the background."""

    pruned = Signal(object)
    """Emitted with the pruned model's folder when a pruning succeeds."""
    verb = "Pruning"

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
        self.report: dict | None = None

    def _show_inputs(self, sparsity: float) -> None:
        inputs = max(1, round((1 - float(sparsity)) * N_INPUTS))
        self.inputs_label.value = f"= {inputs} of {N_INPUTS} inputs per filter"

    def run(self) -> None:
        """Start the pruning the form asks for (errors go to the status line)."""
        from napari_msdl.training import PruneConfig

        if self.running:
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
                out = self.out.value = default_output(model)
        except ValueError as e:
            self.status.value = f"Cannot prune: {one_line(e)}"
            return
        self.table.value = ""
        self._start(prune_job, model, out, config, data)

    def _on_done(self, result: tuple[Any, dict]) -> None:
        model, self.report = result
        self.status.value = f"Wrote {model.path}. Detect valve and Patterns now use it."
        self.table.value = before_after_html(self.report)
        self.out.value = default_output(model.path)  # next time a new folder, not this
        self.pruned.emit(model.path)
