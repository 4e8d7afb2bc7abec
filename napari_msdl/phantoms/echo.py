"""Ultrasound image formation for the phantom: a TEE pyramid, speckle, log compression.

Geometry. The probe (the apex of the pyramid) sits on or above the volume's first z
face (array axis 2 is depth; axis 0 is azimuth and axis 1 elevation). A beam is the ray
``x = ax + u d``, ``y = ay + v d`` at depth ``d = z - az`` with ``|u| <= tan_u``,
``|v| <= tan_v``; the field of view is also limited to ranges ``r = |p - apex| <= r_max``
and depths ``d >= d_min``. Everything outside it is 0.

Image formation, on a beam grid (depth samples = the volume's z slices, beams spaced at
0.8 of the lateral point-spread width, so lateral resolution falls with depth):

1. echogenicity (linear power): the diffuse regions of :mod:`.scene` plus its thin-surface
   scatterers splatted trilinearly (specular: surfaces seen edge-on by the beam return
   less), near-field clutter, acoustic shadows behind calcium and walls (round-trip
   optical depth accumulated along each beam), drop-out regions (signal loss in a sector
   beyond some depth), imperfectly compensated attenuation and TGC, a lateral gain falloff;
2. speckle: complex Gaussian noise scaled by the square root of that power (plus
   electronic noise that TGC amplifies with depth), filtered by a separable Gaussian
   point-spread function (axial sigma ``psf_axial`` mm, lateral ``psf_lateral`` mm at
   50 mm depth), whose magnitude is the Rayleigh-distributed envelope;
3. log compression: ``255 * clip((L + gain + DR) / DR, 0, 1) ** gamma`` with ``L`` the
   envelope power in dB (0 dB is a typical wall);
4. scan conversion into the Cartesian volume by bilinear interpolation between beams.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from napari_msdl.phantoms.scatterers import surface_scatterers
from napari_msdl.phantoms.scene import Scene, region_echogenicity

REFERENCE_DEPTH_MM = 50.0


@dataclass(frozen=True, eq=False)
class FieldOfView:
    """The TEE pyramid: apex (world mm), half-angle tangents, range and depth limits."""

    apex: tuple[float, float, float]
    tan_u: float
    tan_v: float
    r_max: float
    d_min: float

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else float(v)) for k, v in asdict(self).items()}

    def inside(self, dx, dy, d) -> np.ndarray:
        """The field-of-view test on offsets from the apex (broadcasting arrays)."""
        return ((d >= self.d_min) & (np.abs(dx) <= self.tan_u * d) & (np.abs(dy) <= self.tan_v * d)
                & (dx * dx + dy * dy + d * d <= self.r_max**2))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Whether world points (..., 3) lie inside the pyramid (volume bounds not checked)."""
        p = np.asarray(points, dtype=np.float64)
        a = self.apex
        return self.inside(p[..., 0] - a[0], p[..., 1] - a[1], p[..., 2] - a[2])

    def mask(self, shape, spacing, origin=(0.0, 0.0, 0.0)) -> np.ndarray:
        """Boolean volume (x, y, z) of the voxels inside the field of view."""
        xs, ys, zs = (o + np.arange(n) * s - a for n, s, o, a
                      in zip(shape, spacing, origin, self.apex, strict=True))
        return self.inside(xs[:, None, None], ys[None, :, None], zs[None, None, :])


@dataclass(frozen=True, eq=False)
class ImageParams:
    """Per-case acquisition and display settings (dB, mm); ranges in docs/phantoms.md."""

    psf_axial: float
    psf_lateral: float
    dynamic_range: float
    gain: float
    gamma: float
    residual_attenuation: float
    tgc_knots: tuple[float, ...]
    tgc_gain: float
    lateral_falloff: float
    noise_level: float
    clutter_level: float
    clutter_length: float
    specular_floor: float
    specular_power: float
    dropouts: tuple[tuple[float, float, float, float, float, float], ...]

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tgc_knots"] = [float(v) for v in self.tgc_knots]
        d["dropouts"] = [[float(x) for x in drop] for drop in self.dropouts]
        return {k: (float(v) if np.isscalar(v) else v) for k, v in d.items()}


@dataclass(frozen=True, eq=False)
class BeamGrid:
    """Sample positions of the beams: depth slices x azimuth x elevation."""

    depths: np.ndarray
    u: np.ndarray
    v: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.depths), len(self.u), len(self.v))

    @property
    def du(self) -> float:
        return float(self.u[1] - self.u[0])

    @property
    def dv(self) -> float:
        return float(self.v[1] - self.v[0])


def beam_grid(fov: FieldOfView, shape, spacing, origin, psf_lateral: float) -> BeamGrid:
    """Beams spaced at 0.8 of the lateral PSF sigma; depth samples at the z slices."""
    step = 0.8 * psf_lateral / REFERENCE_DEPTH_MM
    z = origin[2] + np.arange(shape[2]) * spacing[2]
    n_u = int(np.clip(np.ceil(2 * fov.tan_u / step), 16, 400)) + 1
    n_v = int(np.clip(np.ceil(2 * fov.tan_v / step), 16, 400)) + 1
    return BeamGrid(depths=z - fov.apex[2], u=np.linspace(-fov.tan_u, fov.tan_u, n_u),
                    v=np.linspace(-fov.tan_v, fov.tan_v, n_v))


def _coarse_index(n: int) -> np.ndarray:
    """Every second index, always including the last."""
    return np.unique(np.r_[np.arange(0, n, 2), n - 1])


def _upsample(a: np.ndarray, coarse: list[np.ndarray], shape) -> np.ndarray:
    """Linear interpolation of ``a`` (sampled at ``coarse`` indices per axis) to ``shape``."""
    for axis, (idx, n) in enumerate(zip(coarse, shape, strict=True)):
        hi = np.clip(np.searchsorted(idx, np.arange(n)), 1, len(idx) - 1)
        lo = hi - 1
        w = ((np.arange(n) - idx[lo]) / (idx[hi] - idx[lo])).astype(np.float32)
        view = [None] * a.ndim
        view[axis] = slice(None)
        w = w[tuple(view)]
        a = np.take(a, lo, axis=axis) * (1 - w) + np.take(a, hi, axis=axis) * w
    return a


def diffuse_power(scene: Scene, fov: FieldOfView, grid: BeamGrid, shape, spacing,
                  origin) -> np.ndarray:
    """Region echogenicity on the beam grid, evaluated on every second sample along each
    axis (only where a beam can reach a voxel) and interpolated linearly."""
    coarse = [_coarse_index(n) for n in grid.shape]
    d = np.maximum(grid.depths[coarse[0]], 1e-3)[:, None, None]
    u = grid.u[coarse[1]][None, :, None]
    v = grid.v[coarse[2]][None, None, :]
    x, y = u * d, v * d
    lo = np.asarray(origin) - np.asarray(fov.apex)
    hi = lo + (np.asarray(shape) - 1) * np.asarray(spacing)
    pad = 4 * max(grid.du, grid.dv) * d + 2 * spacing[0]
    ok = ((x >= lo[0] - pad) & (x <= hi[0] + pad) & (y >= lo[1] - pad) & (y <= hi[1] + pad)
          & (d >= fov.d_min - 3 * spacing[2])
          & (x * x + y * y + d * d <= (fov.r_max + 3 * spacing[2]) ** 2))
    k, i, j = np.nonzero(ok)
    dk = grid.depths[coarse[0]][k]
    pts = np.stack([grid.u[coarse[1]][i] * dk, grid.v[coarse[2]][j] * dk, dk], -1)
    pts += np.asarray(fov.apex)
    power = np.zeros(ok.shape, dtype=np.float32)
    power[k, i, j] = region_echogenicity(scene, pts)
    return _upsample(power, coarse, grid.shape)


def _splat(grid: BeamGrid, fov: FieldOfView, spacing_z: float, points: np.ndarray,
           values: list[np.ndarray]) -> list[np.ndarray]:
    """Trilinear splat of per-point values onto the beam grid (one array per value)."""
    p = points - np.asarray(fov.apex)
    d = p[:, 2]
    ok = d > 1e-3
    p, d, values = p[ok], d[ok], [v[ok] for v in values]
    f = np.stack([(d - grid.depths[0]) / spacing_z, (p[:, 0] / d - grid.u[0]) / grid.du,
                  (p[:, 1] / d - grid.v[0]) / grid.dv], -1)
    shape = np.array(grid.shape)
    ok = np.all((f >= 0) & (f <= shape - 1.000001), axis=1)
    f, values = f[ok], [v[ok] for v in values]
    i0 = np.floor(f).astype(np.int64)
    t = f - i0
    n1, n2 = grid.shape[1], grid.shape[2]
    base = (i0[:, 0] * n1 + i0[:, 1]) * n2 + i0[:, 2]
    corners = np.array([(a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)])
    flat = (base[None, :] + (corners @ np.array([n1 * n2, n2, 1]))[:, None]).ravel()
    pairs = np.stack([1 - t, t])  # (2, N, 3)
    w = (pairs[corners[:, 0], :, 0] * pairs[corners[:, 1], :, 1] * pairs[corners[:, 2], :, 2])
    size = int(np.prod(shape))
    return [np.bincount(flat, weights=(w * v[None, :]).ravel(), minlength=size).reshape(grid.shape)
            for v in values]


def _gaussian(sigma: float) -> np.ndarray:
    """A sampled Gaussian normalised to unit energy (sum of squares 1)."""
    r = max(1, int(np.ceil(3.5 * sigma)))
    x = np.arange(-r, r + 1)
    h = np.exp(-0.5 * (x / max(sigma, 1e-3)) ** 2)
    return h / np.sqrt(np.sum(h**2))


def speckle_power(amplitude: np.ndarray, sigmas, rng: np.random.Generator) -> np.ndarray:
    """Envelope power of complex Gaussian scatterers scaled by ``amplitude`` and filtered
    by a separable Gaussian PSF (``sigmas`` in samples, unit-energy kernels): its mean is
    ``amplitude**2`` where that is smooth, and its magnitude is Rayleigh distributed."""
    amplitude = np.asarray(amplitude, dtype=np.float32)
    env = np.zeros(amplitude.shape, dtype=np.float32)
    for _ in range(2):
        part = rng.standard_normal(amplitude.shape, dtype=np.float32) * amplitude
        part *= np.float32(np.sqrt(0.5))
        for axis, sigma in enumerate(sigmas):
            part = ndimage.correlate1d(part, _gaussian(sigma).astype(np.float32), axis=axis,
                                       mode="constant")
        env += part * part
    return env


def render(scene: Scene, fov: FieldOfView, img: ImageParams, shape, spacing, origin,
           rng: np.random.Generator) -> np.ndarray:
    """The uint8 B-mode volume of ``scene`` (array axes x, y, z; z is depth)."""
    spacing = np.asarray(spacing, dtype=np.float64)
    origin = np.asarray(origin, dtype=np.float64)
    grid = beam_grid(fov, shape, spacing, origin, img.psf_lateral)
    power = diffuse_power(scene, fov, grid, shape, spacing, origin)
    power = _add_scatterers(power, scene, fov, img, grid, spacing[2], rng)
    amplitude = _acquisition(power, fov, img, grid)
    sigmas = (img.psf_axial / spacing[2], img.psf_lateral / REFERENCE_DEPTH_MM / grid.du,
              img.psf_lateral / REFERENCE_DEPTH_MM / grid.dv)
    level = 10 * np.log10(speckle_power(amplitude, sigmas, rng) + np.float32(1e-12))
    disp = np.clip((level + img.gain + img.dynamic_range) / img.dynamic_range, 0, 1) ** img.gamma
    return scan_convert((255 * disp).astype(np.float32), grid, fov, shape, spacing, origin)


def _add_scatterers(power: np.ndarray, scene: Scene, fov: FieldOfView, img: ImageParams,
                    grid: BeamGrid, dz: float, rng: np.random.Generator) -> np.ndarray:
    """Splat the scene's surface scatterers (weighted by their specular return) onto the
    beam grid, then attenuate everything behind them (round trip)."""
    depth = np.maximum(grid.depths, fov.d_min)
    cell = grid.du * grid.dv * dz * np.median(depth) ** 2
    sc = surface_scatterers(scene, rng, float(np.clip(2.5 / cell, 0.5, 5.0)))
    beam = sc.points - np.asarray(fov.apex)
    beam /= np.linalg.norm(beam, axis=1, keepdims=True)
    cos = np.abs(np.einsum("ij,ij->i", beam, sc.normal))
    diffuse = np.einsum("ij,ij->i", sc.normal, sc.normal) < 0.5
    floor = img.specular_floor
    spec = np.where(diffuse, 1.0, floor + (1 - floor) * cos**img.specular_power)
    area = grid.du * grid.dv * np.maximum(sc.points[:, 2] - fov.apex[2], 1e-3) ** 2
    bright, optical = _splat(grid, fov, dz, sc.points,
                             [sc.weight * spec / (area * dz), sc.optical / area])
    tau = np.cumsum(optical, axis=0) - 0.5 * optical
    return (power + bright) * np.exp(-2.0 * tau).astype(np.float32)


def _acquisition(power: np.ndarray, fov: FieldOfView, img: ImageParams,
                 grid: BeamGrid) -> np.ndarray:
    """Scatterer amplitude after near-field clutter, drop-out, attenuation with imperfect
    TGC, lateral gain falloff and electronic noise (amplified by TGC)."""
    depth = np.maximum(grid.depths, fov.d_min)
    d_top = max(fov.d_min, float(grid.depths[0]))
    dd = depth[:, None, None]
    rng_mm = dd * np.sqrt(1 + grid.u[None, :, None] ** 2 + grid.v[None, None, :] ** 2)
    clutter = 10 ** (img.clutter_level / 10) * np.exp(-(dd - d_top) / img.clutter_length)
    power = power + clutter.astype(np.float32)
    for uc, vc, su, sv, d_start, strength in img.dropouts:
        rho2 = ((grid.u[:, None] - uc) / su) ** 2 + ((grid.v[None, :] - vc) / sv) ** 2
        lateral = np.clip(3 * (1 - rho2), 0, 1)
        along = 1 / (1 + np.exp(-(depth - d_start) / 2.0))
        power *= (1 - (1 - strength) * along[:, None, None] * lateral[None]).astype(np.float32)
    knots = np.interp(depth, np.linspace(depth[0], depth[-1], len(img.tgc_knots)), img.tgc_knots)
    edge = (grid.u[:, None] / fov.tan_u) ** 2 + (grid.v[None, :] / fov.tan_v) ** 2
    gain_db = (-img.residual_attenuation * rng_mm + knots[:, None, None]
               - 0.5 * img.lateral_falloff * edge[None])
    noise = 10 ** ((img.noise_level + img.tgc_gain * rng_mm) / 10)
    return np.sqrt(power * 10 ** (gain_db / 10) + noise).astype(np.float32)


def scan_convert(beams: np.ndarray, grid: BeamGrid, fov: FieldOfView, shape, spacing,
                 origin) -> np.ndarray:
    """Bilinear interpolation of beam data (depth, u, v) into a uint8 volume (x, y, z)."""
    out = np.zeros(tuple(shape), dtype=np.uint8)
    xs = origin[0] + np.arange(shape[0]) * spacing[0] - fov.apex[0]
    ys = origin[1] + np.arange(shape[1]) * spacing[1] - fov.apex[1]
    for k, d in enumerate(grid.depths):
        if d < fov.d_min:
            continue
        d = float(d)
        fu = (xs / d - grid.u[0]) / grid.du
        fv = (ys / d - grid.v[0]) / grid.dv
        inside = fov.inside(xs[:, None], ys[None, :], d)
        if not inside.any():
            continue
        iu = np.clip(np.floor(fu).astype(np.int64), 0, len(grid.u) - 2)
        iv = np.clip(np.floor(fv).astype(np.int64), 0, len(grid.v) - 2)
        tu = np.clip(fu - iu, 0, 1)[:, None]
        tv = np.clip(fv - iv, 0, 1)[None, :]
        b = beams[k]
        rows = b[iu] * (1 - tu) + b[iu + 1] * tu
        val = rows[:, iv] * (1 - tv) + rows[:, iv + 1] * tv
        out[:, :, k] = np.where(inside, np.clip(val + 0.5, 0, 255), 0).astype(np.uint8)
    return out
