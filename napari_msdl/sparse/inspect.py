"""What a user reads off a trained sparse network: where its filters sample, and how much.

Used by the Sparsity patterns widget and by ``prune``'s before/after report; pure numpy
over a network's first sparse layer, no Qt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from napari_msdl.sparse import connectivity
from napari_msdl.sparse.grid import ijk_to_offsets
from napari_msdl.sparse.layers import SparseLinear, cube_side


def first_sparse_layer(net: nn.Module) -> SparseLinear:
    """The network's first :class:`SparseLinear` (the layer that samples the patch)."""
    for module in net.modules():
        if isinstance(module, SparseLinear):
            return module
    raise ValueError(f"{type(net).__name__} has no sparse layer")


@dataclass(frozen=True)
class PatternPoints:
    """Sample points of one filter or of all filters of a sparse layer."""

    ijk: np.ndarray  # (P, 3) grid indices
    offsets: np.ndarray  # (P, 3) unit-box offsets
    weights: np.ndarray  # (P,) weight (one filter) or summed |weight| (all filters)
    filters: np.ndarray  # (P,) number of filters reading the point (1 for one filter)


def pattern_points(layer: SparseLinear, filter_index: int | None = None) -> PatternPoints:
    """Points of filter ``filter_index`` with their signed weights, or (None) the union over
    all filters with the number of filters reading each point and their summed |weight|."""
    n = cube_side(layer.in_features)
    if filter_index is not None:
        p = layer.filter_pattern(filter_index)
        return PatternPoints(p.ijk, p.offsets, p.weights, np.ones(p.n_active, np.int64))
    w = layer.effective_weight().detach().numpy()
    counts = layer.mask.detach().numpy().sum(axis=0)
    inputs = np.flatnonzero(counts > 0)
    ijk = np.stack(np.unravel_index(inputs, (n, n, n)), axis=-1).astype(np.int64)
    return PatternPoints(ijk, ijk_to_offsets(ijk, n), np.abs(w[:, inputs]).sum(axis=0),
                         counts[inputs].round().astype(np.int64))


def pattern_summary(net: nn.Module) -> dict[str, float]:
    """Density, fan-in, active inputs and scatter of a network's sampling layer."""
    layer = first_sparse_layer(net)
    fan = layer.n_active
    junction = connectivity.scatter(layer)
    return {
        "density": layer.density,
        "fan_in_mean": float(fan.mean()),
        "fan_in_min": int(fan.min()),
        "fan_in_max": int(fan.max()),
        "active_inputs": int(layer.active_inputs().numel()),
        "inputs": int(layer.in_features), "filters": int(layer.out_features),
        "scatter_forward": junction.forward, "scatter_backward": junction.backward,
        "scatter_network_min": connectivity.network_scatter(net).minimum,
    }


def format_summary(summary: dict[str, float]) -> str:
    """The summary as the few lines the widget and the CLI print."""
    s = summary
    return (f"density {100 * s['density']:.2f} %  ({s['filters']} filters)\n"
            f"fan-in per filter: mean {s['fan_in_mean']:.1f}, min {s['fan_in_min']}, "
            f"max {s['fan_in_max']}\n"
            f"active inputs (union): {s['active_inputs']} of {s['inputs']}\n"
            f"scatter: forward {s['scatter_forward']:.3f}, backward {s['scatter_backward']:.3f}, "
            f"network min {s['scatter_network_min']:.3f}")
