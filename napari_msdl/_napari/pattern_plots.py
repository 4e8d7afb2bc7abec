"""The plots beside a sparsity pattern (matplotlib, no Qt): Dey et al.'s figures for one
network, drawn into a given Figure.

* ``curves``: the training run's sparsity and losses per Algorithm 1 round (from the card);
* ``usage``: how many filters read each of the 18^3 grid points, as three maximum
  projections (where in the box the network looks);
* ``windows``: each junction's window adjacency matrices (input windows per output neuron,
  output windows per input neuron; a perfectly spread pattern is 1 everywhere);
* ``scatter``: each junction's forward and backward scatter and the end-to-end pair.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PLOTS = {"curves": "training curves", "usage": "input usage",
         "windows": "window adjacency", "scatter": "scatter per junction"}


def _small(ax: Any) -> None:
    ax.tick_params(labelsize=7)
    ax.title.set_fontsize(8)


def draw_curves(figure: Any, curves: dict | None) -> None:
    """Sparsity (%) and train / validation loss per Algorithm 1 round."""
    ax_sparsity, ax_loss = figure.subplots(2, 1, sharex=True)
    if curves is None or not curves.get("round"):
        ax_sparsity.set_title("no training curves in this model's card")
    else:
        ax_sparsity.plot(curves["round"], 100 * np.asarray(curves["sparsity"]), "o-", ms=3)
        ax_sparsity.set_ylabel("sparsity %", fontsize=8)
        ax_loss.plot(curves["round"], curves["train_loss"], "o-", ms=3, label="train")
        val = [np.nan if v is None else v for v in curves["val_loss"]]
        ax_loss.plot(curves["round"], val, "s-", ms=3, label="validation")
        ax_loss.set_ylabel("loss", fontsize=8)
        ax_loss.set_xlabel("Algorithm 1 round", fontsize=8)
        ax_loss.legend(fontsize=7)
    for ax in (ax_sparsity, ax_loss):
        _small(ax)


def draw_usage(figure: Any, counts: np.ndarray) -> None:
    """Maximum projections of the filters-per-grid-point counts along each box axis."""
    axes = figure.subplots(1, 3)
    top = max(int(counts.max()), 1)
    for axis, ax in enumerate(axes):
        image = ax.imshow(counts.max(axis=axis).T, origin="lower", cmap="inferno", vmin=0,
                          vmax=top)
        others = [a for a in "xyz" if a != "xyz"[axis]]
        ax.set_title(f"along {'xyz'[axis]}")
        ax.set_xlabel(others[0], fontsize=7)
        ax.set_ylabel(others[1], fontsize=7)
        _small(ax)
    bar = figure.colorbar(image, ax=list(axes), orientation="horizontal", fraction=0.08,
                          pad=0.25)
    bar.set_label("filters reading a grid point (max along the axis)", fontsize=7)
    bar.ax.tick_params(labelsize=7)


def draw_windows(figure: Any, junctions: list[np.ndarray]) -> None:
    """Input- and output-window matrices of every junction (rows), as heat maps."""
    from napari_msdl.sparse.connectivity import window_adjacency

    axes = np.atleast_2d(figure.subplots(len(junctions), 2, squeeze=False))
    for k, junction in enumerate(junctions):
        a_in, a_out = window_adjacency(junction)
        for ax, matrix, what in ((axes[k, 0], a_in, "in-windows"),
                                 (axes[k, 1], a_out, "out-windows")):
            ax.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_title(f"J{k + 1} {what} {matrix.shape[0]}x{matrix.shape[1]}, "
                         f"{matrix.min()}-{matrix.max()}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])


def draw_scatter(figure: Any, junctions: list[np.ndarray]) -> None:
    """Forward and backward scatter of each junction and end to end (1 = fully spread)."""
    from napari_msdl.sparse.connectivity import network_scatter

    result = network_scatter(junctions)
    pairs = [*result.junctions, result.end_to_end]
    labels = [f"J{k + 1}" for k in range(len(result.junctions))] + ["end to end"]
    ax = figure.subplots(1, 1)
    x = np.arange(len(pairs))
    ax.bar(x - 0.2, [p.forward for p in pairs], 0.4, label="forward")
    ax.bar(x + 0.2, [p.backward for p in pairs], 0.4, label="backward")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("scatter", fontsize=8)
    ax.set_title(f"network minimum {result.minimum:.3f}")
    ax.legend(fontsize=7)
    _small(ax)


def draw(figure: Any, what: str, net: Any, curves: dict | None) -> None:
    """Clear ``figure`` and draw plot ``what`` (a key of :data:`PLOTS`) for ``net``."""
    from napari_msdl.sparse.connectivity import model_junctions
    from napari_msdl.sparse.inspect import first_sparse_layer

    figure.clear()
    if what == "curves":
        draw_curves(figure, curves)
    elif what == "usage":
        draw_usage(figure, first_sparse_layer(net).usage_counts())
    elif what == "windows":
        draw_windows(figure, model_junctions(net))
    elif what == "scatter":
        draw_scatter(figure, model_junctions(net))
    else:
        raise ValueError(f"plot must be one of {list(PLOTS)}, got {what!r}")
    if what not in ("usage",):
        figure.tight_layout()
