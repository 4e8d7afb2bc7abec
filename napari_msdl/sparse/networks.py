"""The seed's networks: a sparse first layer over the 18^3 patch, dense ReLU layers, 1 logit.

Cascade net ``5832 (sparse) x 60 x 1`` and main classifier ``5832 (sparse) x 150 x 80 x
50 x 1`` (the seed's Experiments slide), built from a JSON-able :class:`NetworkConfig`.

Input normalisation is part of the model and is defined over the inputs the network
reads: each patch is centred by its mean and divided by (its std + eps), both taken over
the **active union** (``active_inputs()``: the grid points any first-layer filter reads).
``forward(x_full)`` (training, (N, n_inputs)) first picks the union columns, so it
computes what :class:`ActiveNet` (inference, (N, K) active inputs, the one inference
path) computes on ``x_full[:, active_inputs()]``: training and inference see the same
numbers. The union shrinks while Algorithm 1 removes weights, and
the statistics follow it; the epochs trained after each round adapt to that. A dense
network (``dense=True``) reads all inputs, so its union is all of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import numba
import numpy as np
import torch
from torch import nn

from napari_msdl._io import (
    check_flag,
    check_keys,
    check_number,
    check_whole,
    dataclass_from_dict,
)
from napari_msdl.sparse.grid import N_INPUTS
from napari_msdl.sparse.layers import SparseLinear, check_active_width

CONFIG_VERSION = 1
MAX_INPUTS = 100_000
MAX_LAYERS = 8
MAX_UNITS = 4096
MAX_WEIGHTS = 20_000_000
"""Bounds of a network config: far above the seed's nets (5832 x 150 x 80 x 50 x 1 has
0.9 M weights), far below what would ask a small model file for gigabytes."""


@dataclass(frozen=True)
class NetworkConfig:
    """Layer sizes and normalisation of a SADNN; ``dense`` gives the non-sparse baseline."""

    n_inputs: int = N_INPUTS
    hidden: tuple[int, ...] = (150, 80, 50)
    dense: bool = False
    normalize: bool = True
    eps: float = 1e-5
    version: int = field(default=CONFIG_VERSION)

    def __post_init__(self) -> None:
        check_whole("n_inputs", self.n_inputs, 1, MAX_INPUTS)
        if (isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__len__")
                or not 1 <= len(self.hidden) <= MAX_LAYERS):
            raise ValueError(f"hidden must be a list of 1 to {MAX_LAYERS} layer sizes, "
                             f"received {self.hidden!r}")
        hidden = tuple(check_whole("hidden layer size", h, 1, MAX_UNITS) for h in self.hidden)
        object.__setattr__(self, "hidden", hidden)
        sizes = (self.n_inputs, *hidden, 1)
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        if weights > MAX_WEIGHTS:
            raise ValueError(f"a network of {self.n_inputs} inputs and hidden layers {hidden} "
                             f"has {weights:,} weights; at most {MAX_WEIGHTS:,} are allowed")
        check_flag("dense", self.dense)
        check_flag("normalize", self.normalize)
        check_number("eps", self.eps, 0.0, 1e3, low_open=True)
        check_whole("network config version", self.version, CONFIG_VERSION, CONFIG_VERSION)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> NetworkConfig:
        version = check_keys(d, [f.name for f in fields(cls)], "network config").get(
            "version", CONFIG_VERSION)
        if isinstance(version, bool) or version != CONFIG_VERSION:
            raise ValueError(f"network config version {version!r} is not supported "
                             f"(expected {CONFIG_VERSION})")
        return dataclass_from_dict(cls, d, "network config")


def cascade_net_config(**overrides) -> NetworkConfig:
    """The seed's shallow cascade net: 5832 (sparse) x 60 x 1."""
    return NetworkConfig(**{"hidden": (60,), **overrides})


def main_net_config(**overrides) -> NetworkConfig:
    """The seed's main classifier: 5832 (sparse) x 150 x 80 x 50 x 1."""
    return NetworkConfig(**{"hidden": (150, 80, 50), **overrides})


class SADNN(nn.Module):
    """Sparse adaptive deep network: normalise, sparse layer, ReLU MLP, one logit."""

    def __init__(self, config: NetworkConfig | None = None, seed: int = 0) -> None:
        super().__init__()
        self.config = config or main_net_config()
        c = self.config
        gen = torch.Generator().manual_seed(seed)
        if c.dense:
            self.first: nn.Module = nn.Linear(c.n_inputs, c.hidden[0])
            _init_linear(self.first, gen)
        else:
            self.first = SparseLinear(c.n_inputs, c.hidden[0],
                                      seed=int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
        layers: list[nn.Module] = []
        sizes = (*c.hidden, 1)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            lin = nn.Linear(a, b)
            _init_linear(lin, gen)
            layers += [nn.ReLU(inplace=True), lin]
        self.head = nn.Sequential(*layers)

    # -- config ---------------------------------------------------------------------
    def to_config(self) -> dict:
        """The JSON-able config; with ``state_dict()`` (tensors only) it rebuilds the model."""
        return self.config.to_dict()

    @classmethod
    def from_config(cls, config: dict | NetworkConfig, seed: int = 0) -> SADNN:
        if isinstance(config, dict):
            config = NetworkConfig.from_dict(config)
        return cls(config, seed=seed)

    @property
    def sparse_layers(self) -> list[SparseLinear]:
        return [m for m in self.modules() if isinstance(m, SparseLinear)]

    def active_inputs(self) -> torch.Tensor:
        """Sorted union of the inputs the network reads (int64, (K,))."""
        if isinstance(self.first, SparseLinear):
            return self.first.active_inputs()
        return torch.arange(self.config.n_inputs)

    # -- forward --------------------------------------------------------------------
    def _normalise_stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, std = patch_stats(x)
        return mean, std + self.config.eps

    def forward(self, x_full: torch.Tensor) -> torch.Tensor:
        """Logits (N,) from full patches (N, n_inputs), float32 or float16 (computed in
        float32); differentiable (training)."""
        if x_full.ndim != 2 or x_full.shape[1] != self.config.n_inputs:
            raise ValueError(f"x must have shape (N, {self.config.n_inputs}), received "
                             f"{tuple(x_full.shape)}")
        if isinstance(self.first, SparseLinear):
            cols = self.first.active_inputs()
            if cols.numel() < self.config.n_inputs:
                x = x_full.index_select(1, cols).float()
                weight = self.first.weight.index_select(1, cols) * \
                    self.first.mask.index_select(1, cols)
                return self._from_first(self._first_linear(x, weight, self.first.bias))
        weight = (self.first.effective_weight() if isinstance(self.first, SparseLinear)
                  else self.first.weight)
        return self._from_first(self._first_linear(x_full.float(), weight, self.first.bias))

    def _first_linear(self, x: torch.Tensor, weight: torch.Tensor,
                      bias: torch.Tensor | None) -> torch.Tensor:
        """First layer on normalised x without materialising it.

        ``W (x - m) / s + b = (W x - m (W 1)) / s + b``: one matmul, then in-place
        passes over the (N, out) result only (autograd-safe: nothing saved is changed).
        """
        wx = x @ weight.T
        if self.config.normalize:
            mean, s = self._normalise_stats(x)
            wx.addr_(mean[:, 0], weight.sum(dim=1), alpha=-1).mul_(1.0 / s)
        return wx if bias is None else wx.add_(bias)

    def _from_first(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h).squeeze(1)

    @torch.no_grad()
    def forward_active(self, x_active: torch.Tensor) -> torch.Tensor:
        """Logits (N,) from the gathered active inputs (N, K), K = len(active_inputs())
        (through :class:`ActiveNet`, the inference path detection and segmentation use)."""
        return ActiveNet(self).logits(x_active)

    @torch.no_grad()
    def predict_proba(self, x):
        """Sigmoid probabilities (N,) from full (N, n_inputs) or active (N, K) inputs.

        NumPy in gives NumPy out; a tensor in gives a tensor out.
        """
        is_numpy = isinstance(x, np.ndarray)
        xt = torch.as_tensor(x, dtype=torch.float32)
        k = int(self.active_inputs().numel())
        if xt.ndim == 2 and xt.shape[1] == self.config.n_inputs:
            logits = self.forward(xt)
        elif xt.ndim == 2 and xt.shape[1] == k:
            logits = self.forward_active(xt)
        else:
            raise ValueError(f"x must have shape (N, {self.config.n_inputs}) (full patches) "
                             f"or (N, {k}) (active inputs), received {tuple(xt.shape)}")
        p = torch.sigmoid(logits)
        return p.numpy() if is_numpy else p


@dataclass(frozen=True, eq=False)
class FirstLayer:
    """A network's sparse first layer as the fused kernels read it.

    ``tap_index`` (H, T) int64: per filter, the positions (into the network's active
    inputs) of its nonzero weights, ``tap_weight`` (H, T) float32 those weights (padded
    with zero weights to the longest filter), ``bias`` (H,) float32, and the patch
    normalisation: ``(w . (x - mean)) / (std + eps) + b`` when ``normalize``, else
    ``w . x + b``. Made by :meth:`ActiveNet.taps`; read by the fused kernels of
    :mod:`napari_msdl.detector.features`.
    """

    tap_index: np.ndarray
    tap_weight: np.ndarray
    bias: np.ndarray
    eps: float
    normalize: bool


FUSE_BELOW = 32
"""A first layer goes through the fused kernels when its widest filter reads at most
1/32 of the network's inputs (the bundled nets: 1/46 to 1/97; a dense one: 1/1). Per
hypothesis the fused kernels do filters x taps scalar multiply-adds; the dense path
writes the K samples out and does filters x K multiply-adds in BLAS, ~50x faster each."""


class ActiveNet:
    """A SADNN on its active inputs, weights prepared once: the one inference path.

    The detector's cascade and main nets, the boundary classifier and
    :meth:`SADNN.forward_active` all score through it. It computes what
    :meth:`SADNN.forward` computes on full patches, but reads only the ``columns`` the
    first layer uses (in :meth:`SADNN.active_inputs` order): the per-patch normalisation
    over them, the compacted first layer ``(W x - m (W 1)) / (s + eps) + b``, then the
    dense head. Callers that gathered the inputs may pass each row's mean and (population)
    standard deviation, which the gathers accumulate for free; otherwise they are computed.
    The weights stay on the network's device when it was built.
    """

    def __init__(self, net: SADNN) -> None:
        first = net.first
        with torch.no_grad():
            if isinstance(first, SparseLinear):
                weight, bias = first.compact()
            else:
                weight, bias = first.weight.detach(), first.bias.detach()
            self.weight_t = weight.t().contiguous()
            self.weight_sum = weight.sum(dim=1)
            self.bias = bias
        self.columns = net.active_inputs().cpu().numpy().astype(np.int64)
        self.head = net.head
        self.normalize = bool(net.config.normalize)
        self.eps = float(net.config.eps)

    @property
    def n_active(self) -> int:
        """K: how many inputs the network reads."""
        return len(self.columns)

    @torch.no_grad()
    def first_layer(self, x: torch.Tensor | np.ndarray, mean: torch.Tensor | None = None,
                    std: torch.Tensor | None = None) -> torch.Tensor:
        """The first layer's output (N, H) float32 (normalised, biased, before its
        activation) for the active inputs ``x`` (N, K), on the weights' device; ``mean``
        and ``std`` (N,): the rows' statistics, when the caller has them."""
        x = torch.as_tensor(x).to(self.weight_t.device, torch.float32)
        check_active_width(x, self.n_active)
        h = x @ self.weight_t
        if self.normalize:
            if mean is None or std is None:
                mean, std = (t[:, 0] for t in patch_stats(x))
            mean = mean.to(h.device)[:, None]
            std = std.to(h.device)[:, None] + self.eps
            h = (h - mean * self.weight_sum) / std
        if self.bias is not None:
            h = h + self.bias
        return h

    @torch.no_grad()
    def head_logits(self, h: torch.Tensor) -> np.ndarray:
        """Logits (N,) float32 NumPy, on the CPU, from a first layer's output ``h`` (N, H)
        (:meth:`first_layer`, or a fused kernel of the detector's gathers)."""
        return self.head(h.to(self.weight_t.device)).reshape(-1).float().cpu().numpy()

    @torch.no_grad()
    def logits(self, x: torch.Tensor | np.ndarray, mean: torch.Tensor | None = None,
               std: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N,) float32 of the active inputs ``x`` (N, K), on the weights' device;
        ``mean`` and ``std`` (N,): the rows' statistics, when the caller has them."""
        return self.head(self.first_layer(x, mean, std)).reshape(-1).float()

    def taps(self) -> FirstLayer:
        """The first layer as per-filter taps (made once): for each of the H filters the
        positions (into :attr:`columns`) and values of its nonzero weights, padded with
        zero weights to the longest. A sparse filter reads a dozen or two of the
        hundreds of inputs the network reads; the fused kernels of
        :mod:`napari_msdl.detector.features` multiply only those."""
        if not hasattr(self, "_taps"):
            w = self.weight_t.t().cpu().numpy().astype(np.float32)  # (H, K)
            nonzero = w != 0
            width = max(1, int(nonzero.sum(1).max())) if w.size else 1
            index = np.zeros((w.shape[0], width), dtype=np.int64)
            weight = np.zeros((w.shape[0], width), dtype=np.float32)
            for j in range(w.shape[0]):
                cols = np.flatnonzero(nonzero[j])
                index[j, :len(cols)] = cols
                weight[j, :len(cols)] = w[j, cols]
            bias = (np.zeros(w.shape[0], np.float32) if self.bias is None
                    else self.bias.detach().cpu().numpy().astype(np.float32))
            self._taps = FirstLayer(index, weight, bias, self.eps, self.normalize)
        return self._taps

    @property
    def fusable(self) -> bool:
        """Whether the fused kernels should apply this first layer: its filters each read
        at most 1/:data:`FUSE_BELOW` of the network's inputs. A dense or lightly pruned
        layer is faster as one dense product (BLAS) after the gather."""
        return self.taps().tap_index.shape[1] * FUSE_BELOW <= self.n_active

    def __call__(self, x: torch.Tensor | np.ndarray, mean: torch.Tensor | None = None,
                 std: torch.Tensor | None = None) -> np.ndarray:
        """:meth:`logits` as a float32 NumPy array on the CPU."""
        return self.logits(x, mean, std).cpu().numpy()


def _init_linear(lin: nn.Linear, gen: torch.Generator) -> None:
    """nn.Linear's default range, drawn from ``gen`` so the network is seeded."""
    bound = 1.0 / float(np.sqrt(lin.in_features))
    with torch.no_grad():
        lin.weight.uniform_(-bound, bound, generator=gen)
        lin.bias.uniform_(-bound, bound, generator=gen)



@torch.no_grad()
def patch_stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row mean and (population) std of x (N, K), as (N, 1) each; no gradient.

    A numba pass accumulating in float64 (~35x faster than ``torch.std_mean`` on CPU and as
    accurate); the statistics depend on the data only, so no gradient flows through them.
    """
    if x.device.type != "cpu" or x.dtype != torch.float32:
        std, mean = torch.std_mean(x.double(), dim=1, correction=0, keepdim=True)
        return mean.to(x.dtype), std.to(x.dtype)
    xs = np.ascontiguousarray(x.detach().numpy())
    mean = np.empty(xs.shape[0], np.float32)
    std = np.empty(xs.shape[0], np.float32)
    _row_stats(xs, mean, std)
    return torch.from_numpy(mean)[:, None], torch.from_numpy(std)[:, None]


@numba.njit(parallel=True, cache=True, nogil=True)
def _row_stats(x, mean, std):  # pragma: no cover - compiled
    k = x.shape[1]
    for i in numba.prange(x.shape[0]):
        s = 0.0
        q = 0.0
        for j in range(k):
            v = np.float64(x[i, j])
            s += v
            q += v * v
        m = s / k
        var = q / k - m * m
        mean[i] = m
        std[i] = np.sqrt(var) if var > 0.0 else 0.0
