"""Pattern gathers: the sampled inputs of every hypothesis, on a stage's feature volume.

Every hypothesis is described by the 18^3 grid of :mod:`napari_msdl.sparse.grid` placed
in its box, but a stage only ever reads the grid points its sparse first layer uses
(``inputs``, the active input indices). All gathers read a :class:`FeatureVolume` (the
image resampled to the grid pitch, see :mod:`napari_msdl.detector.hypotheses`):

* :func:`gather_shifted` (position stage): axis-aligned boxes of the mean size whose
  grid points fall on voxels, so a sample is an integer-offset read.
* :func:`gather_boxes` (orientation and scale stages): oriented boxes; one fused pass
  per sample: grid offset -> box-to-world -> trilinear read, zero outside the volume.

Both have a compiled numba kernel (CPU, parallel) and a torch path (any device, and the
reference the kernels are tested against). Callers chunk hypotheses so memory stays
bounded; these functions gather exactly the (N, K) block they are given.

Detection does not keep the samples: :func:`shifted_first_layer` and
:func:`boxes_first_layer` gather each hypothesis's row into a scratch row, take its mean
and standard deviation, and apply a network's sparse first layer there, reading each
filter's own few taps (12 or 24 of the hundreds of inputs the network reads; see
:meth:`~napari_msdl.sparse.networks.ActiveNet.taps`). Only the (N, filters) layer leaves
the kernel: no (N, K) sample matrix is written, and no dense product over the union of
the filters' inputs is made. The seed's speed-up of sparse over dense nets is that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import torch

from napari_msdl.sparse.grid import GRID_SIZE, flat_to_ijk, ijk_to_offsets
from napari_msdl.sparse.networks import FirstLayer


@dataclass(frozen=True, eq=False)
class FeatureVolume:
    """A normalised float32 image on a regular grid: ``p = origin + index * spacing``.

    ``data`` is C-contiguous and padded with zeros by at least half a pattern on every
    side, so position-stage reads never leave it. ``device_data`` caches a torch copy.
    """

    data: np.ndarray
    spacing: np.ndarray
    origin: np.ndarray
    pad: int

    def torch_data(self, device: str | torch.device) -> torch.Tensor:
        """The data as a torch tensor on ``device`` (cached per device)."""
        cache = self.__dict__.setdefault("_torch", {})
        key = str(device)
        if key not in cache:
            cache[key] = torch.from_numpy(self.data).to(device)
        return cache[key]


@dataclass(frozen=True, eq=False)
class Features:
    """Gathered samples ``x`` (N, K) float32 tensor and each row's mean and std (N,).

    The networks normalise each patch by the mean and standard deviation of the inputs
    they read; the compiled gathers accumulate them while sampling, for free.
    """

    x: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor

    @classmethod
    def from_moments(cls, x: np.ndarray, moments: np.ndarray) -> Features:
        k = max(1, x.shape[1])
        mean = moments[:, 0] / k
        var = np.maximum(moments[:, 1] / k - mean * mean, 0.0)
        return cls(torch.from_numpy(x), torch.from_numpy(mean.astype(np.float32)),
                   torch.from_numpy(np.sqrt(var).astype(np.float32)))

    @classmethod
    def from_tensor(cls, x: torch.Tensor) -> Features:
        std, mean = torch.std_mean(x.double(), dim=1, correction=0)
        return cls(x, mean.float(), std.float())

    def numpy(self) -> np.ndarray:
        """The samples as a numpy array (N, K)."""
        return self.x.cpu().numpy()


def pattern_offsets(inputs: np.ndarray) -> np.ndarray:
    """Unit-box offsets (K, 3) float64 of the grid points with flat indices ``inputs``."""
    return ijk_to_offsets(flat_to_ijk(np.asarray(inputs, dtype=np.int64)))


def shift_offsets(inputs: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Flat voxel offsets (K,) int64 of grid points ``inputs`` from a box's first voxel."""
    ijk = flat_to_ijk(np.asarray(inputs, dtype=np.int64))
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    return ijk @ strides


def base_index(voxels: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """Flat index (N,) of the first grid voxel of position hypotheses at ``voxels``.

    A position hypothesis at voxel ``m`` (N, 3) is centred half a voxel above ``m``, so
    its grid point ``idx`` falls on voxel ``m - 8 + idx`` exactly.
    """
    first = np.asarray(voxels, dtype=np.int64) - (GRID_SIZE // 2 - 1)
    if first.size and (first.min() < 0 or np.any(first.max(0) + GRID_SIZE > np.array(shape))):
        raise ValueError("position hypotheses must lie at least a half pattern inside the "
                         f"padded volume of shape {shape}")
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    return first @ strides


@numba.njit(parallel=True, cache=True, nogil=True)
def _shifted_kernel(flat, bases, offsets, out, moments):  # pragma: no cover - compiled
    for n in numba.prange(bases.shape[0]):
        b = bases[n]
        s1 = 0.0
        s2 = 0.0
        for k in range(offsets.shape[0]):
            v = flat[b + offsets[k]]
            out[n, k] = v
            s1 += v
            s2 += v * v
        moments[n, 0] = s1
        moments[n, 1] = s2


def gather_shifted(fv: FeatureVolume, bases: np.ndarray, offsets: np.ndarray,
                   device: str | torch.device = "cpu") -> Features:
    """Integer-offset gather: ``x[n, k] = data.flat[bases[n] + offsets[k]]``.

    The numba kernel on CPU, torch on other devices; row moments come with it.
    """
    bases = np.ascontiguousarray(bases, dtype=np.int64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    if str(device) == "cpu":
        out = np.empty((len(bases), len(offsets)), dtype=np.float32)
        moments = np.empty((len(bases), 2), dtype=np.float64)
        _shifted_kernel(fv.data.reshape(-1), bases, offsets, out, moments)
        return Features.from_moments(out, moments)
    return Features.from_tensor(gather_shifted_torch(fv, bases, offsets, device))


def gather_shifted_torch(fv: FeatureVolume, bases: np.ndarray, offsets: np.ndarray,
                         device: str | torch.device = "cpu") -> torch.Tensor:
    """Torch version of :func:`gather_shifted` (reference and GPU path)."""
    flat = fv.torch_data(device).reshape(-1)
    b = torch.as_tensor(bases, device=device)
    o = torch.as_tensor(offsets, device=device)
    return flat[b[:, None] + o[None, :]]


def _index_transform(fv: FeatureVolume, centers, rotations, sizes):
    """Per box: A (N, 3, 3) and b (N, 3) with index coords ``q = b + A @ u`` (float64).

    ``p = c + R^T (s * u)`` in mm, then ``q = (p - origin) / spacing``.
    """
    centers = np.asarray(centers, dtype=np.float64)
    rotations = np.asarray(rotations, dtype=np.float64)
    sizes = np.asarray(sizes, dtype=np.float64)
    inv = 1.0 / fv.spacing
    a = np.transpose(rotations, (0, 2, 1)) * sizes[:, None, :] * inv[None, :, None]
    b = (centers - fv.origin) * inv
    return np.ascontiguousarray(a), np.ascontiguousarray(b)


@numba.njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _box_kernel(vol, a, b, offsets, out, moments):  # pragma: no cover - compiled
    lo, hi = _offset_bounds(offsets)
    for n in numba.prange(b.shape[0]):
        row = out[n]
        _box_row(vol, a[n], b[n], offsets, lo, hi, row)
        m1 = 0.0
        m2 = 0.0
        for k in range(row.shape[0]):
            m1 += row[k]
            m2 += row[k] * row[k]
        moments[n, 0] = m1
        moments[n, 1] = m2


@numba.njit(cache=True, nogil=True)
def _offset_bounds(offsets):  # pragma: no cover - compiled
    """Per axis the least and greatest unit-box offset (K, 3) -> (3,), (3,)."""
    lo = np.empty(3)
    hi = np.empty(3)
    for d in range(3):
        lo[d] = offsets[:, d].min()
        hi[d] = offsets[:, d].max()
    return lo, hi


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _box_row(vol, a, b, offsets, lo, hi, row):  # pragma: no cover - compiled
    """Trilinear samples of one box (``q = b + a @ u``) into ``row``, zero outside."""
    if _box_inside(a, b, lo, hi, vol.shape[0], vol.shape[1], vol.shape[2]):
        _box_row_inside(vol, a, b, offsets, row)
    else:
        _box_row_border(vol, a, b, offsets, row)


@numba.njit(cache=True, nogil=True, inline="always")
def _box_inside(a, b, lo, hi, n0, n1, n2):  # pragma: no cover - compiled
    """Whether ``q = b + a @ u`` lies in [0, n - 1) per axis for every ``u`` in the box
    ``lo..hi`` (its extremes are at the box's corners: the map is affine), with a margin
    of 1e-6 voxel so that rounding never takes a sample across."""
    for d in range(3):
        low = b[d]
        high = b[d]
        for e in range(3):
            x = a[d, e] * lo[e]
            y = a[d, e] * hi[e]
            low += min(x, y)
            high += max(x, y)
        size = n0 if d == 0 else (n1 if d == 1 else n2)
        if low < 1e-6 or high > size - 1 - 1e-6:
            return False
    return True


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _box_row_inside(vol, a, b, offsets, row):  # pragma: no cover - compiled
    """Trilinear samples of a box whose every sample's 8 neighbours are inside: no bounds
    checks (the hot path)."""
    n1, n2 = vol.shape[1], vol.shape[2]
    s0, s1 = n1 * n2, n2
    flat = vol.reshape(-1)
    a00, a01, a02 = a[0, 0], a[0, 1], a[0, 2]
    a10, a11, a12 = a[1, 0], a[1, 1], a[1, 2]
    a20, a21, a22 = a[2, 0], a[2, 1], a[2, 2]
    b0, b1, b2 = b[0], b[1], b[2]
    for k in range(offsets.shape[0]):
        u0, u1, u2 = offsets[k, 0], offsets[k, 1], offsets[k, 2]
        q0 = b0 + a00 * u0 + a01 * u1 + a02 * u2
        q1 = b1 + a10 * u0 + a11 * u1 + a12 * u2
        q2 = b2 + a20 * u0 + a21 * u1 + a22 * u2
        i0, i1, i2 = np.int64(q0), np.int64(q1), np.int64(q2)
        t0 = np.float32(q0 - i0)
        t1 = np.float32(q1 - i1)
        t2 = np.float32(q2 - i2)
        p = i0 * s0 + i1 * s1 + i2
        c00 = flat[p] + t2 * (flat[p + 1] - flat[p])
        c01 = flat[p + s1] + t2 * (flat[p + s1 + 1] - flat[p + s1])
        c10 = flat[p + s0] + t2 * (flat[p + s0 + 1] - flat[p + s0])
        c11 = flat[p + s0 + s1] + t2 * (flat[p + s0 + s1 + 1] - flat[p + s0 + s1])
        c0 = c00 + t1 * (c01 - c00)
        c1 = c10 + t1 * (c11 - c10)
        row[k] = c0 + t0 * (c1 - c0)


@numba.njit(cache=True, nogil=True, fastmath=True)
def _box_row_border(vol, a, b, offsets, row):  # pragma: no cover - compiled
    """Trilinear samples of a box that reaches the volume's edge (zero outside)."""
    for k in range(offsets.shape[0]):
        u0, u1, u2 = offsets[k, 0], offsets[k, 1], offsets[k, 2]
        q0 = b[0] + a[0, 0] * u0 + a[0, 1] * u1 + a[0, 2] * u2
        q1 = b[1] + a[1, 0] * u0 + a[1, 1] * u1 + a[1, 2] * u2
        q2 = b[2] + a[2, 0] * u0 + a[2, 1] * u1 + a[2, 2] * u2
        f0, f1, f2 = np.floor(q0), np.floor(q1), np.floor(q2)
        row[k] = _border_sample(vol, np.int64(f0), np.int64(f1), np.int64(f2),
                                np.float32(q0 - f0), np.float32(q1 - f1), np.float32(q2 - f2))


@numba.njit(cache=True, nogil=True, inline="always")
def _border_sample(vol, i0, i1, i2, t0, t1, t2):  # pragma: no cover - compiled
    acc = np.float32(0.0)
    for d0 in range(2):
        j0 = i0 + d0
        if j0 < 0 or j0 >= vol.shape[0]:
            continue
        w0 = t0 if d0 else 1 - t0
        for d1 in range(2):
            j1 = i1 + d1
            if j1 < 0 or j1 >= vol.shape[1]:
                continue
            w1 = t1 if d1 else 1 - t1
            for d2 in range(2):
                j2 = i2 + d2
                if j2 < 0 or j2 >= vol.shape[2]:
                    continue
                w2 = t2 if d2 else 1 - t2
                acc += w0 * w1 * w2 * vol[j0, j1, j2]
    return acc


def gather_boxes(fv: FeatureVolume, centers, rotations, sizes, offsets: np.ndarray,
                 device: str | torch.device = "cpu"):
    """Trilinear samples (N, K) of unit-box ``offsets`` (K, 3) in N oriented boxes.

    ``centers``/``sizes`` (N, 3) mm and ``rotations`` (N, 3, 3) as in
    :func:`napari_msdl.geometry.rotation_matrices`. Zero outside the volume. The fused
    numba kernel on CPU, torch on other devices; row moments come with it.
    """
    a, b = _index_transform(fv, centers, rotations, sizes)
    offsets = np.ascontiguousarray(offsets, dtype=np.float64)
    if str(device) == "cpu":
        out = np.empty((len(b), len(offsets)), dtype=np.float32)
        moments = np.empty((len(b), 2), dtype=np.float64)
        _box_kernel(fv.data, a, b, offsets, out, moments)
        return Features.from_moments(out, moments)
    return Features.from_tensor(_boxes_torch(fv, a, b, offsets, device))


def gather_boxes_torch(fv: FeatureVolume, centers, rotations, sizes, offsets: np.ndarray,
                       device: str | torch.device = "cpu") -> torch.Tensor:
    """Torch version of :func:`gather_boxes` (reference and GPU path)."""
    a, b = _index_transform(fv, centers, rotations, sizes)
    return _boxes_torch(fv, a, b, np.asarray(offsets, dtype=np.float64), device)


def _boxes_torch(fv: FeatureVolume, a, b, offsets, device) -> torch.Tensor:
    vol = fv.torch_data(device)
    shape = torch.tensor(vol.shape, device=device)
    a_t = torch.as_tensor(a, device=device)
    b_t = torch.as_tensor(b, device=device)
    u = torch.as_tensor(offsets, device=device)
    q = b_t[:, None, :] + torch.einsum("nij,kj->nki", a_t, u)
    f = torch.floor(q)
    t = (q - f).to(torch.float32)
    i = f.to(torch.int64)
    flat = vol.reshape(-1)
    strides = torch.tensor([vol.shape[1] * vol.shape[2], vol.shape[2], 1], device=device)
    out = torch.zeros(q.shape[:2], dtype=torch.float32, device=device)
    for corner in range(8):
        d = torch.tensor([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1], device=device)
        j = i + d
        ok = ((j >= 0) & (j < shape)).all(-1)
        w = torch.where(d.bool(), t, 1 - t).prod(-1)
        idx = (j.clamp_min(0).minimum(shape - 1) * strides).sum(-1)
        out += torch.where(ok, w * flat[idx], torch.zeros((), device=device))
    return out


@numba.njit(cache=True, nogil=True, fastmath=True, inline="always")
def _apply_first_layer(row, tap_index, tap_weight, bias, eps, normalize, out,
                       n):  # pragma: no cover - compiled
    """``out[n] = `` the first layer of one gathered ``row`` (its moments taken here)."""
    k = row.shape[0]
    s1 = 0.0
    s2 = 0.0
    for i in range(k):
        v = np.float64(row[i])
        s1 += v
        s2 += v * v
    mean = s1 / max(1, k)
    var = s2 / max(1, k) - mean * mean
    if normalize:
        m = np.float32(mean)
        inv = np.float32(1.0 / (np.float32(np.sqrt(var) if var > 0.0 else 0.0) + eps))
    else:
        m = np.float32(0.0)
        inv = np.float32(1.0)
    for j in range(tap_index.shape[0]):
        acc = np.float32(0.0)
        for t in range(tap_index.shape[1]):
            acc += tap_weight[j, t] * (row[tap_index[j, t]] - m)
        out[n, j] = acc * inv + bias[j]


ROWS = 64
"""Hypotheses per parallel task of the fused kernels (each task has one scratch row)."""


@numba.njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _shifted_layer_kernel(flat, bases, offsets, tap_index, tap_weight, bias, eps, normalize,
                          out):  # pragma: no cover - compiled
    n_rows = bases.shape[0]
    for block in numba.prange((n_rows + ROWS - 1) // ROWS):
        row = np.empty(offsets.shape[0], np.float32)
        for n in range(block * ROWS, min(n_rows, (block + 1) * ROWS)):
            b = bases[n]
            for k in range(offsets.shape[0]):
                row[k] = flat[b + offsets[k]]
            _apply_first_layer(row, tap_index, tap_weight, bias, eps, normalize, out, n)


@numba.njit(parallel=True, cache=True, nogil=True, fastmath=True)
def _box_layer_kernel(vol, a, b, offsets, tap_index, tap_weight, bias, eps, normalize,
                      out):  # pragma: no cover - compiled
    lo, hi = _offset_bounds(offsets)
    n_rows = b.shape[0]
    for block in numba.prange((n_rows + ROWS - 1) // ROWS):
        row = np.empty(offsets.shape[0], np.float32)
        for n in range(block * ROWS, min(n_rows, (block + 1) * ROWS)):
            _box_row(vol, a[n], b[n], offsets, lo, hi, row)
            _apply_first_layer(row, tap_index, tap_weight, bias, eps, normalize, out, n)


def _layer_out(n: int, layer: FirstLayer) -> np.ndarray:
    return np.empty((n, layer.tap_index.shape[0]), dtype=np.float32)


def shifted_first_layer(fv: FeatureVolume, bases: np.ndarray, offsets: np.ndarray,
                        layer: FirstLayer) -> torch.Tensor:
    """The first layer (N, H) float32 of integer-offset patches (as :func:`gather_shifted`
    reads them) on the CPU, fused: no sample leaves the kernel."""
    out = _layer_out(len(bases), layer)
    _shifted_layer_kernel(fv.data.reshape(-1), np.ascontiguousarray(bases, dtype=np.int64),
                          np.ascontiguousarray(offsets, dtype=np.int64), layer.tap_index,
                          layer.tap_weight, layer.bias, np.float32(layer.eps),
                          layer.normalize, out)
    return torch.from_numpy(out)


def boxes_first_layer(fv: FeatureVolume, centers, rotations, sizes, offsets: np.ndarray,
                      layer: FirstLayer) -> torch.Tensor:
    """The first layer (N, H) float32 of oriented-box patches (as :func:`gather_boxes`
    reads them) on the CPU, fused: no sample leaves the kernel."""
    a, b = _index_transform(fv, centers, rotations, sizes)
    out = _layer_out(len(b), layer)
    _box_layer_kernel(fv.data, a, b, np.ascontiguousarray(offsets, dtype=np.float64),
                      layer.tap_index, layer.tap_weight, layer.bias, np.float32(layer.eps),
                      layer.normalize, out)
    return torch.from_numpy(out)
