"""Pattern metrics of Dey et al., *Characterizing Sparse Connectivity Patterns in Neural
Networks* (arXiv 1711.02131): density, fan-in/out, window adjacency and scatter.

A junction is a 0/1 matrix ``A`` of shape (N_out, N_in) (``A[i, j] = 1`` when input j
feeds output i), a :class:`~napari_msdl.sparse.layers.SparseLinear` (its mask) or an
``nn.Linear`` (all ones).

Windows (the seed's Figure 6): the N_in inputs are cut into ``fan_in`` windows of
consecutive neurons and the N_out outputs into ``fan_out`` windows. The input-window
matrix (N_out, fan_in) counts the connections from each input window to each output
neuron; the output-window matrix (fan_out, N_in) counts those from each input neuron to
each output window. A perfectly spread pattern has exactly 1 everywhere. When the fan-in
(or fan-out) is not the same for every neuron, as after Algorithm 1 on the fan-out side,
the window count is the rounded mean fan, clipped to [1, N]; when N is not a multiple of
the count, the windows differ in size by one (``np.array_split``).

Scatter, as in the authors' reference code (``adjmatint.py``, functions ``scatter`` and
``scatter_net``, github.com/souryadey/predefinedsparse-nnets): each window count is
divided by its ideal count (window size x the junction's connection density, i.e. the
count if connections were spread evenly; 1 for the windows above) and clipped at 1, and
the scatter is the mean of those values. So it is the proportion of windows that reach
their ideal share (the slide's "proportion of values > 1" in loose words). ``forward`` is
from the input-window matrix (how well each output sees all of the input), ``backward``
from the output-window matrix. The end-to-end scatter uses the path-count matrix
``A_L @ ... @ A_1`` as one equivalent junction; a network is summarised by the vector
``[S_1f, S_1b, ..., S_Lf, S_Lb, S_f, S_b]`` and its minimum, the values the paper
compares patterns by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from napari_msdl.sparse.layers import SparseLinear

Junction = np.ndarray | torch.Tensor | SparseLinear | nn.Linear
"""A 0/1 matrix (N_out, N_in), or a layer whose connections it describes."""


def adjacency_matrix(junction: Junction) -> np.ndarray:
    """The junction as an int64 0/1 matrix (N_out, N_in)."""
    if isinstance(junction, SparseLinear):
        return (junction.mask.detach().numpy() > 0.5).astype(np.int64)
    if isinstance(junction, nn.Linear):
        return np.ones((junction.out_features, junction.in_features), np.int64)
    a = junction.detach().numpy() if torch.is_tensor(junction) else np.asarray(junction)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"a junction must be a non-empty 2D 0/1 matrix (N_out, N_in), "
                         f"received shape {a.shape}")
    if not np.isin(a, (0, 1)).all():
        raise ValueError("a junction matrix must hold only 0 and 1")
    return a.astype(np.int64)


def _is_sequence(junctions) -> bool:
    return isinstance(junctions, (list, tuple)) and len(junctions) > 0 and all(
        isinstance(j, (np.ndarray, nn.Module)) or torch.is_tensor(j) or np.ndim(j) == 2
        for j in junctions)


def _junction_list(junctions) -> list[np.ndarray]:
    mats = [adjacency_matrix(j) for j in junctions]
    for a, b in zip(mats[:-1], mats[1:], strict=False):
        if b.shape[1] != a.shape[0]:
            raise ValueError(f"junctions do not chain: {a.shape} is followed by {b.shape} "
                             f"(N_in of each must be N_out of the one before)")
    return mats


def model_junctions(model: nn.Module) -> list[np.ndarray]:
    """The junctions of a network's linear layers, input side first."""
    mods = [m for m in model.modules() if isinstance(m, (SparseLinear, nn.Linear))]
    return _junction_list(mods)


def density(junctions: Junction | Sequence[Junction]) -> float:
    """Fraction of possible connections present; for a list, total ones / total entries."""
    mats = _junction_list(junctions) if _is_sequence(junctions) else \
        [adjacency_matrix(junctions)]
    return float(sum(int(a.sum()) for a in mats) / sum(a.size for a in mats))


def fan_in(junction: Junction) -> np.ndarray:
    """Connections into each output neuron, (N_out,)."""
    return adjacency_matrix(junction).sum(axis=1)


def fan_out(junction: Junction) -> np.ndarray:
    """Connections out of each input neuron, (N_in,)."""
    return adjacency_matrix(junction).sum(axis=0)


def uniform_fan_in(junction: Junction) -> int | None:
    """The fan-in when every output neuron has the same, else None."""
    f = fan_in(junction)
    return int(f[0]) if (f == f[0]).all() else None


def uniform_fan_out(junction: Junction) -> int | None:
    """The fan-out when every input neuron has the same, else None."""
    f = fan_out(junction)
    return int(f[0]) if (f == f[0]).all() else None


def _n_windows(total: int, n_rows: int, n: int) -> int:
    return int(np.clip(np.floor(total / n_rows + 0.5), 1, n))


def _window_sums(a: np.ndarray, n_windows: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of ``a`` over ``n_windows`` consecutive blocks along ``axis``, and block sizes."""
    sizes = np.array([len(b) for b in np.array_split(np.arange(a.shape[axis]), n_windows)])
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    return np.add.reduceat(a, starts, axis=axis), sizes


def _windows(a: np.ndarray, n_in_windows: int | None, n_out_windows: int | None):
    n_out, n_in = a.shape
    total = int(a.sum())
    wi = n_in_windows or _n_windows(total, n_out, n_in)
    wo = n_out_windows or _n_windows(total, n_in, n_out)
    if not (1 <= wi <= n_in and 1 <= wo <= n_out):
        raise ValueError(f"window counts must be in [1, N_in={n_in}] and [1, N_out={n_out}], "
                         f"received {wi}, {wo}")
    a_in, in_sizes = _window_sums(a, wi, axis=1)
    a_out, out_sizes = _window_sums(a, wo, axis=0)
    return a_in, in_sizes, a_out, out_sizes


def window_adjacency(junction: Junction, n_in_windows: int | None = None,
                     n_out_windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(input-window matrix (N_out, fan_in), output-window matrix (fan_out, N_in)).

    The window counts default to the fan-in and fan-out (rounded means when they vary).
    """
    a_in, _, a_out, _ = _windows(adjacency_matrix(junction), n_in_windows, n_out_windows)
    return a_in, a_out


@dataclass(frozen=True)
class ScatterPair:
    """Scatter of one junction: outputs vs input windows, inputs vs output windows."""

    forward: float
    backward: float

    @property
    def min(self) -> float:
        return min(self.forward, self.backward)


def _scatter_of(a: np.ndarray) -> ScatterPair:
    total = float(a.sum())
    if total == 0:
        return ScatterPair(0.0, 0.0)
    a_in, in_sizes, a_out, out_sizes = _windows(a, None, None)
    dens = total / a.size
    s_f = np.minimum(a_in / (in_sizes[None, :] * dens), 1.0).mean()
    s_b = np.minimum(a_out / (out_sizes[:, None] * dens), 1.0).mean()
    return ScatterPair(float(s_f), float(s_b))


def path_matrix(junctions: Sequence[Junction]) -> np.ndarray:
    """Paths from each network input to each output, ``A_L @ ... @ A_1`` (int64)."""
    mats = _junction_list(junctions)
    p = mats[0]
    for a in mats[1:]:
        p = a @ p
    return p


def scatter(junctions: Junction | Sequence[Junction]) -> ScatterPair:
    """Scatter of one junction, or end to end (the path matrix) for a list of them."""
    if _is_sequence(junctions):
        return _scatter_of(path_matrix(junctions))
    return _scatter_of(adjacency_matrix(junctions))


@dataclass(frozen=True)
class NetworkScatter:
    """Per-junction scatter pairs and the end-to-end pair of a network."""

    junctions: tuple[ScatterPair, ...]
    end_to_end: ScatterPair

    @property
    def values(self) -> list[float]:
        """``[S_1f, S_1b, ..., S_Lf, S_Lb, S_f, S_b]`` as in the paper."""
        out = [v for p in self.junctions for v in (p.forward, p.backward)]
        return out + [self.end_to_end.forward, self.end_to_end.backward]

    @property
    def minimum(self) -> float:
        return float(min(self.values))

    def to_dict(self) -> dict:
        return {"values": self.values, "minimum": self.minimum}


def network_scatter(junctions: nn.Module | Sequence[Junction]) -> NetworkScatter:
    """Every scatter value of a network given as its junctions (or an ``nn.Module``)."""
    mats = model_junctions(junctions) if isinstance(junctions, nn.Module) and not \
        isinstance(junctions, (SparseLinear, nn.Linear)) else _junction_list(
            junctions if _is_sequence(junctions) else [junctions])
    return NetworkScatter(tuple(_scatter_of(a) for a in mats), scatter(mats))
