"""What a training or pruning job shows while it runs: the network being trained, a live
plot of its training and validation loss and sparsity per round, and the stage report as
it comes (cascade recall and rejection, main-net AUC, validation errors).

It listens to the figures the core reports (:func:`napari_msdl._progress.report_figures`):
a round's ``train_loss``, ``val_loss`` and ``sparsity`` under the stage
``"<network>: <phase>"``, and a finished network's ``report`` line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import ComboBox, Container

from napari_msdl._napari.widgets._forms import one_line, plot_canvas


class ModelJob:
    """What the Train and Prune forms share: Start and Cancel, the progress bar and status
    line, and the :class:`TrainingView` of a background job that writes a model. A form
    sets ``start_button``, ``cancel_button``, ``progress``, ``status`` and ``view``, names
    its ``verb`` (``"Training"``) and implements ``_on_done(result)``."""

    verb = "The job"
    job: Any = None

    def _start(self, func: Any, *args: Any) -> None:
        """Run ``func(*args, progress=...)`` in the background."""
        from napari_msdl._napari.widgets._jobs import BackgroundJob, StepProgress

        self._bar = StepProgress()
        self._set_running(True)
        self.view.reset()
        self.status.value = "Starting..."
        self.job = BackgroundJob(func, *args, on_progress=self._on_progress,
                                 on_figures=self.view.on_figures, on_done=self._finished,
                                 on_error=self._on_error,
                                 on_cancelled=self._on_cancelled).start()

    @property
    def running(self) -> bool:
        return self.job is not None and self.job.running

    def cancel(self) -> None:
        """Stop the job at its next report; it writes nothing."""
        if self.running:
            self.job.cancel()
            self.status.value = "Cancelling (at the end of the current batch of work)..."

    def _set_running(self, running: bool) -> None:
        self.start_button.enabled = not running
        self.cancel_button.enabled = running
        if running:
            self.progress.value = 0

    def _on_progress(self, stage: str, done: int, total: int) -> None:
        from napari_msdl._progress import STEP

        self.progress.value = int(round(100 * self._bar.update(stage, done, total)))
        if stage != STEP:
            self.status.value = self._bar.describe(stage, done, total)

    def _on_error(self, exc: BaseException) -> None:
        self._set_running(False)
        self.status.value = f"{self.verb} failed, no model written: {one_line(exc)}"

    def _on_cancelled(self) -> None:
        self._set_running(False)
        self.progress.value = 0
        self.status.value = "Cancelled; no model was written."

    def _finished(self, result: Any) -> None:
        self._set_running(False)
        self.progress.value = 100
        self._on_done(result)


class TrainingView(Container):
    """Live curves per network and the report lines of the job."""

    def __init__(self) -> None:
        self.network = ComboBox(label="curves of", choices=[], tooltip=(
            "The network whose curves are plotted: the one training now, or any trained "
            "before it in this job"))
        super().__init__(widgets=[self.network])
        self.margins = (0, 0, 0, 0)
        self.report = report_log()
        self.native.layout().addWidget(self.report)
        self._figure, self._canvas = plot_canvas()
        self.native.layout().addWidget(self._canvas)
        self.network.changed.connect(lambda *_: self.draw())
        self.reset()

    def reset(self) -> None:
        """Forget the previous job."""
        self.curves: dict[str, dict[str, list]] = {}
        self.lines: list[str] = []
        self.network.choices = []
        self.report.clear()
        self.draw()

    def on_figures(self, stage: str, figures: dict[str, Any]) -> None:
        """A report from the job (GUI thread)."""
        if "report" in figures:
            if figures["report"]:
                self.lines.append(" ".join(str(figures["report"]).split()))
                self.report.appendPlainText(self.lines[-1])
                bar = self.report.verticalScrollBar()
                bar.setValue(bar.maximum())
            return
        network, _, phase = stage.rpartition(": ")
        network = network or "network"
        follow = network not in self.curves and self.network.value in (None, self._latest())
        series = self.curves.setdefault(network, {"phase": [], "train_loss": [],
                                                  "val_loss": [], "sparsity": []})
        series["phase"].append(phase)
        for key in ("train_loss", "val_loss", "sparsity"):
            value = figures.get(key)
            series[key].append(np.nan if value is None else float(value))
        if network not in self.network.choices:  # a new network: follow it unless the
            self.network.choices = list(self.curves)  # user looks at an earlier one
            if follow:
                self.network.value = network
        if self.network.value == network:
            self.draw()

    def _latest(self) -> str | None:
        return next(reversed(self.curves), None) if self.curves else None

    def draw(self) -> None:
        """Plot the chosen network's curves."""
        self._figure.clear()
        name = self.network.value
        series = self.curves.get(name) if name else None
        ax_loss = self._figure.add_subplot(211)
        ax_sparsity = self._figure.add_subplot(212, sharex=ax_loss)
        if not series:
            ax_loss.set_title("curves appear as the networks train", fontsize=9)
        else:
            x = np.arange(len(series["phase"]))
            ax_loss.plot(x, series["train_loss"], "o-", ms=3, label="train")
            ax_loss.plot(x, series["val_loss"], "s-", ms=3, label="validation")
            ax_loss.set_ylabel("loss", fontsize=9)
            ax_loss.legend(fontsize=8)
            ax_loss.set_title(name, fontsize=9)
            ax_sparsity.plot(x, 100 * np.asarray(series["sparsity"]), "o-", ms=3, color="C2")
            ax_sparsity.set_ylabel("sparsity %", fontsize=9)
            low = np.nanmin(100 * np.asarray(series["sparsity"]), initial=100.0)
            ax_sparsity.set_ylim(max(0.0, low - 0.05 * (100 - low) - 0.5), 100.2)
            ax_sparsity.set_xticks(x, [_short(p) for p in series["phase"]], fontsize=8)
        for ax in (ax_loss, ax_sparsity):
            ax.tick_params(labelsize=8)
        self._figure.tight_layout()
        self._canvas.draw_idle()


def report_log(lines: int = 7) -> Any:
    """A read-only, scrolling log ``lines`` lines high for the report lines of a job (the
    newest at the bottom), so that a long job never pushes the plot off the dock."""
    from qtpy.QtWidgets import QPlainTextEdit, QSizePolicy

    log = QPlainTextEdit()
    log.setReadOnly(True)
    log.setPlaceholderText("each network's report appears here as it finishes")
    log.setFixedHeight(log.fontMetrics().lineSpacing() * lines + 10)
    log.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    return log


def _short(phase: str) -> str:
    """``"round 2/5"`` -> ``"2"``, ``"pretrain"`` -> ``"pre"``."""
    if phase.startswith("round "):
        return phase[6:].split("/")[0]
    if phase.startswith("dense epoch "):
        return phase[12:]
    return "pre" if phase == "pretrain" else phase[:4]
