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

from napari_msdl._napari.widgets._forms import full_width, plot_canvas, status_label


class TrainingView(Container):
    """Live curves per network and the report lines of the job."""

    def __init__(self) -> None:
        self.network = ComboBox(label="curves of", choices=[], tooltip=(
            "The network whose curves are plotted: the one training now, or any trained "
            "before it in this job"))
        self.report = status_label("", lines=4)
        super().__init__(widgets=[self.network, full_width(self.report)])
        self.margins = (0, 0, 0, 0)
        self._figure, self._canvas = plot_canvas()
        self.native.layout().addWidget(self._canvas)
        self.network.changed.connect(lambda *_: self.draw())
        self.reset()

    def reset(self) -> None:
        """Forget the previous job."""
        self.curves: dict[str, dict[str, list]] = {}
        self.lines: list[str] = []
        self._follow = True
        self.network.choices = []
        self.report.value = ""
        self.draw()

    def on_figures(self, stage: str, figures: dict[str, Any]) -> None:
        """A report from the job (GUI thread)."""
        if "report" in figures:
            if figures["report"]:
                self.lines.append(" ".join(str(figures["report"]).split()))
                self.report.value = "\n".join(self.lines[-12:])
            return
        network, _, phase = stage.rpartition(": ")
        network = network or "network"
        series = self.curves.setdefault(network, {"phase": [], "train_loss": [],
                                                  "val_loss": [], "sparsity": []})
        series["phase"].append(phase)
        for key in ("train_loss", "val_loss", "sparsity"):
            value = figures.get(key)
            series[key].append(np.nan if value is None else float(value))
        if network not in self.network.choices:
            follow = self.network.value is None or self.network.value == self._latest()
            self.network.choices = list(self.curves)
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
            ax_sparsity.set_xticks(x, [_short(p) for p in series["phase"]], fontsize=8)
        for ax in (ax_loss, ax_sparsity):
            ax.tick_params(labelsize=8)
        self._figure.tight_layout()
        self._canvas.draw_idle()


def _short(phase: str) -> str:
    """``"round 2/5"`` -> ``"2"``, ``"pretrain"`` -> ``"pre"``."""
    if phase.startswith("round "):
        return phase[6:].split("/")[0]
    if phase.startswith("dense epoch "):
        return phase[12:]
    return "pre" if phase == "pretrain" else phase[:4]
