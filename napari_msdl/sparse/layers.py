"""The sparse first layer of a SADNN: a linear layer with a binary sparsity map.

The effective weight is always ``weight * mask``: a removed weight (mask 0) neither acts
in the forward pass nor receives a gradient, so training cannot revive it. Optimisers
with state (Adam's moments, SGD momentum) can still move a masked raw weight, so the
training driver calls :meth:`SparseLinear.apply_mask_` after every optimiser step with
the optimiser passed in: that zeroes the masked raw weights, their gradients and their
optimiser state, and the masked weights stay exactly 0.

Inference reads only the active inputs: the detector samples the sorted union of the
filters' inputs (:meth:`SparseLinear.active_inputs`, K of them) and feeds the (N, K)
matrix to :meth:`SparseLinear.forward_active`. Two kernels exist: ``"union"`` (a dense
matmul on the K union columns, :meth:`SparseLinear.compact`) and ``"gather"`` (each
filter gathers only its own inputs; a numba kernel). ``benchmarks/bench_sparse.py``
measures both: the union matmul is the faster on this hardware at every density, so it
is the default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np
import torch
from torch import nn

from napari_msdl.sparse.grid import flat_to_ijk, ijk_to_offsets

INFERENCE_METHODS = ("union", "gather")
DEFAULT_METHOD = "union"


@dataclass(frozen=True)
class FilterPattern:
    """The learned sampling pattern of one filter: where it reads and with what weight."""

    filter: int
    inputs: np.ndarray  # (k,) flat input indices, sorted
    ijk: np.ndarray  # (k, 3) grid indices
    offsets: np.ndarray  # (k, 3) unit-box offsets in (-1/2, 1/2)
    weights: np.ndarray  # (k,) effective weights
    bias: float

    @property
    def n_active(self) -> int:
        return int(self.inputs.size)


def cube_side(n_inputs: int) -> int:
    """The grid side n with n**3 == n_inputs; ValueError when there is none."""
    n = round(n_inputs ** (1.0 / 3.0))
    if n**3 != n_inputs:
        raise ValueError(f"in_features={n_inputs} is not a cube n**3; a pattern lives on an "
                         f"n x n x n grid (5832 = 18**3 for the detector)")
    return n


class SparseLinear(nn.Module):
    """``y = x @ (weight * mask).T + bias`` with a 0/1 ``mask`` buffer (starts all ones)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 seed: int | None = None) -> None:
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise ValueError(f"in_features and out_features must be >= 1, received "
                             f"{in_features}, {out_features}")
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.register_buffer("mask", torch.ones(out_features, in_features))
        self.reset_parameters(seed)

    def reset_parameters(self, seed: int | None = None) -> None:
        """Uniform(-1/sqrt(in), 1/sqrt(in)) as ``nn.Linear``; seeded when ``seed`` is given."""
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.weight.uniform_(-bound, bound, generator=gen)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound, generator=gen)
            self.weight.mul_(self.mask)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, density={self.density:.4f}")

    # -- training -------------------------------------------------------------------
    def effective_weight(self) -> torch.Tensor:
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.effective_weight(), self.bias)

    @torch.no_grad()
    def apply_mask_(self, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Zero the masked weights, their gradients and (given) their optimiser state."""
        self.weight.mul_(self.mask)
        if self.weight.grad is not None:
            self.weight.grad.mul_(self.mask)
        if optimizer is not None:
            for value in optimizer.state.get(self.weight, {}).values():
                if torch.is_tensor(value) and value.shape == self.mask.shape:
                    value.mul_(self.mask)

    @torch.no_grad()
    def set_mask_(self, mask) -> None:
        """Install a 0/1 map (N_out, N_in), e.g. a pre-defined pattern, and apply it."""
        m = torch.as_tensor(np.asarray(mask), dtype=self.mask.dtype)
        if m.shape != self.mask.shape:
            raise ValueError(f"mask must have shape {tuple(self.mask.shape)}, "
                             f"received {tuple(m.shape)}")
        if not bool(((m == 0) | (m == 1)).all()):
            raise ValueError("mask must hold only 0 and 1")
        self.mask.copy_(m)
        self.apply_mask_()

    # -- the pattern ----------------------------------------------------------------
    @property
    def n_active(self) -> np.ndarray:
        """Active inputs per filter, (out_features,) int."""
        return self.mask.sum(dim=1).round().to(torch.int64).numpy()

    @property
    def density(self) -> float:
        """Fraction of the weights that are active."""
        return float(self.mask.mean())

    def active_inputs(self) -> torch.Tensor:
        """Sorted union of the inputs any filter reads (int64, (K,))."""
        return torch.nonzero(self.mask.any(dim=0)).flatten()

    @torch.no_grad()
    def compact(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(effective weight on the union columns (out, K), bias): for ``forward_active``."""
        cols = self.active_inputs()
        weight = (self.weight.index_select(1, cols) * self.mask.index_select(1, cols))
        bias = None if self.bias is None else self.bias.detach().clone()
        return weight.contiguous(), bias

    def usage_counts(self) -> np.ndarray:
        """How many filters read each grid point, as an (n, n, n) int array."""
        n = cube_side(self.in_features)
        return self.mask.sum(dim=0).round().to(torch.int64).numpy().reshape(n, n, n)

    @torch.no_grad()
    def filter_pattern(self, index: int) -> FilterPattern:
        """The active grid points of filter ``index`` with their weights."""
        if not 0 <= index < self.out_features:
            raise IndexError(f"filter {index} out of range 0..{self.out_features - 1}")
        n = cube_side(self.in_features)
        inputs = torch.nonzero(self.mask[index]).flatten().numpy()
        ijk = flat_to_ijk(inputs, n)
        weights = self.effective_weight()[index, inputs].numpy().astype(np.float64)
        bias = 0.0 if self.bias is None else float(self.bias[index])
        return FilterPattern(index, inputs, ijk, ijk_to_offsets(ijk, n), weights, bias)

    def pattern(self) -> list[FilterPattern]:
        """Every filter's pattern, in filter order."""
        return [self.filter_pattern(i) for i in range(self.out_features)]

    # -- inference ------------------------------------------------------------------
    @torch.no_grad()
    def forward_active(self, x_active: torch.Tensor, method: str = DEFAULT_METHOD,
                       ) -> torch.Tensor:
        """Outputs (N, out) from the gathered union inputs ``x_active`` (N, K)."""
        weight, bias = self.compact()
        check_active_width(x_active, weight.shape[1])
        if method == "union":
            return linear_active(x_active, weight, bias)
        if method == "gather":
            return gather_linear(x_active, weight, bias)
        raise ValueError(f"method must be one of {INFERENCE_METHODS}, received {method!r}")


def check_active_width(x_active: torch.Tensor, k: int) -> None:
    if x_active.ndim != 2 or x_active.shape[1] != k:
        raise ValueError(f"x_active must have shape (N, {k}) (the active inputs, in "
                         f"active_inputs() order), received {tuple(x_active.shape)}")


def linear_active(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  ) -> torch.Tensor:
    """Dense matmul on the union columns."""
    if bias is None:
        return x @ weight.T
    return torch.addmm(bias, x, weight.T)


def gather_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  ) -> torch.Tensor:
    """Each filter gathers only its own nonzero columns of ``x`` (numba, CSR by filter)."""
    w = weight.detach().to(torch.float32).numpy()
    rows, cols = np.nonzero(w)
    indptr = np.zeros(w.shape[0] + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    b = np.zeros(w.shape[0], np.float32) if bias is None else bias.detach().float().numpy()
    xs = np.ascontiguousarray(x.detach().to(torch.float32).numpy())
    out = np.empty((xs.shape[0], w.shape[0]), np.float32)
    _csr_gather_kernel(xs, indptr, cols.astype(np.int64), w[rows, cols], b, out)
    return torch.from_numpy(out)



@numba.njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _csr_gather_kernel(x, indptr, cols, vals, bias, out):  # pragma: no cover - compiled
    """out[s, o] = bias[o] + sum over filter o's nonzeros p of x[s, cols[p]] * vals[p]."""
    for s in numba.prange(x.shape[0]):
        for o in range(indptr.size - 1):
            acc = bias[o]
            for p in range(indptr[o], indptr[o + 1]):
                acc += x[s, cols[p]] * vals[p]
            out[s, o] = acc
