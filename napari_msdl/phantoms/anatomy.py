"""The aortic valve of the phantom: an analytic root and three leaflets, and their vertices
on the valve mesh's fixed topology.

Valve-local coordinates (mm): ``z`` runs along the root axis from the left ventricular
outflow tract (LVOT, ``z < 0``) towards the ascending aorta; ``z = 0`` is the annulus (the
plane of the three hinge nadirs); the angle ``theta`` is measured about the axis from the
local ``x`` axis, and commissure 0 lies at ``theta = 0``. Sinus ``k`` (and leaflet ``k``)
spans the angles between commissure ``k`` and commissure ``k + 1``.

The root is a tube ``radius(z, theta)`` about a centreline that is straight between the
annulus and the sinotubular junction (STJ) and bends gently in the LVOT and the aorta.
The mesh follows the wall at 40 % of its thickness from the lumen (the wall spans
``-0.4 t .. +0.6 t`` along the outward normal). Leaflets are mid-surfaces of thin sheets.

The mesh has the valve's fixed topology (:data:`napari_msdl.valve.TOPOLOGY`: vertex
order, landmarks, the box rule :func:`~napari_msdl.valve.pose_from_mesh`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from napari_msdl.valve import (
    LEAFLET_NU,
    LEAFLET_NV,
    N_PER_SINUS,
    ROW_SEGMENTS,
)

WALL_INNER_FRACTION = 0.4
"""The wall spans ``-0.4 t`` (lumen side) to ``+0.6 t`` about the root mesh."""


@dataclass(frozen=True, eq=False)
class ValveShape:
    """The sampled valve anatomy (mm, radians); ranges are in docs/phantoms.md."""

    annulus_radius: float
    lvot_radius: float
    stj_radius: float
    aorta_radius: float
    lvot_height: float
    stj_height: float
    commissure_height: float
    aorta_height: float
    commissure_angles: tuple[float, float, float]
    sinus_bulge: tuple[float, float, float]
    sinus_peak: float
    sinus_sharpness: float
    ellipticity: float
    ellipse_angle: float
    lvot_tilt: tuple[float, float]
    aorta_bend: tuple[float, float]
    wall_thickness: float
    wall_variation: float
    wall_angle: float
    leaflet_opening: float
    coaptation_height: float
    leaflet_thickness: float
    hinge_exponent: float
    belly_closed: float
    belly_open: float
    open_radius: float
    commissure_gap: float

    def to_dict(self) -> dict:
        """JSON-ready parameters."""
        return {k: (list(v) if isinstance(v, tuple) else float(v)) for k, v in asdict(self).items()}

    def spans(self) -> np.ndarray:
        """Angular width of the three sinuses (radians)."""
        return np.diff([*self.commissure_angles, 2 * np.pi])


def centerline(z: np.ndarray, s: ValveShape) -> np.ndarray:
    """(..., 2) offset of the root axis from the local z axis at heights ``z``."""
    z = np.asarray(z, dtype=np.float64)
    below = np.minimum(z, 0.0)[..., None] * np.asarray(s.lvot_tilt)
    above = (np.maximum(z - s.stj_height, 0.0) ** 2)[..., None] * np.asarray(s.aorta_bend)
    return below + above


def base_radius(z: np.ndarray, s: ValveShape) -> np.ndarray:
    """Radius of the root without the sinus bulges and ellipticity."""
    z = np.asarray(z, dtype=np.float64)
    t_lv = np.clip(1.0 + z / s.lvot_height, 0.0, 1.0)
    r = s.lvot_radius + (s.annulus_radius - s.lvot_radius) * t_lv
    t = np.clip(z / s.stj_height, 0.0, 1.0)
    smooth = t * t * (3 - 2 * t)
    r = np.where(z > 0, s.annulus_radius + (s.stj_radius - s.annulus_radius) * smooth, r)
    t_ao = np.clip((z - s.stj_height) / s.aorta_height, 0.0, 1.0)
    return np.where(z > s.stj_height, s.stj_radius + (s.aorta_radius - s.stj_radius) * t_ao, r)


def sinus_profile(z: np.ndarray, theta: np.ndarray, s: ValveShape) -> np.ndarray:
    """Bulge of the sinuses of Valsalva (mm), 0 at the commissures, annulus and STJ."""
    angles = np.asarray(s.commissure_angles)
    th = np.mod(theta, 2 * np.pi)
    k = np.clip(np.searchsorted(angles, th, side="right") - 1, 0, 2)
    frac = (th - angles[k]) / s.spans()[k]
    lobe = np.sin(np.pi * np.clip(frac, 0.0, 1.0)) ** s.sinus_sharpness
    t = np.clip(np.asarray(z) / s.stj_height, 0.0, 1.0)
    a, b = 2 * s.sinus_peak, 2 * (1 - s.sinus_peak)
    vertical = t**a * (1 - t) ** b / (s.sinus_peak**a * (1 - s.sinus_peak) ** b)
    return np.asarray(s.sinus_bulge)[k] * lobe * vertical


def root_radius(z: np.ndarray, theta: np.ndarray, s: ValveShape) -> np.ndarray:
    """Radius of the root mesh surface about the centreline at (z, theta)."""
    z = np.asarray(z, dtype=np.float64)
    weight = 1.0 - 0.7 * np.clip(z / s.stj_height, 0.0, 1.0)
    ellipse = 1.0 + s.ellipticity * weight * np.cos(2 * (theta - s.ellipse_angle))
    return base_radius(z, s) * ellipse + sinus_profile(z, theta, s)


def wall_thickness(z: np.ndarray, theta: np.ndarray, s: ValveShape) -> np.ndarray:
    """Wall thickness (mm): thicker at the fibrous annulus, thinner over the sinuses."""
    z = np.asarray(z, dtype=np.float64)
    sinus = sinus_profile(z, theta, s) / max(max(s.sinus_bulge), 1e-6)
    return s.wall_thickness * (1 + s.wall_variation * np.cos(theta - s.wall_angle)) * (
        1 + 0.3 * np.exp(-((z / 4.0) ** 2)) - 0.25 * sinus)


def root_surface(z: np.ndarray, theta: np.ndarray, s: ValveShape) -> np.ndarray:
    """(..., 3) local points of the root mesh surface at heights ``z`` and angles ``theta``."""
    z = np.asarray(z, dtype=np.float64)
    theta = np.asarray(theta, dtype=np.float64)
    r = root_radius(z, theta, s)
    c = centerline(z, s)
    return np.stack([c[..., 0] + r * np.cos(theta), c[..., 1] + r * np.sin(theta), z], -1)


def root_normals(z: np.ndarray, theta: np.ndarray, s: ValveShape) -> np.ndarray:
    """(..., 3) outward unit normals of the root surface (finite differences)."""
    h = 1e-3
    dz = root_surface(z + h, theta, s) - root_surface(z - h, theta, s)
    dt = root_surface(z, theta + h, s) - root_surface(z, theta - h, s)
    n = np.cross(dt, dz)
    return n / np.linalg.norm(n, axis=-1, keepdims=True)


def row_heights(s: ValveShape) -> np.ndarray:
    """Heights (local z, mm) of the ``ROOT_ROWS`` root rows."""
    knots = [-s.lvot_height, 0.0, s.commissure_height, s.stj_height, s.stj_height + s.aorta_height]
    parts = [np.linspace(knots[i], knots[i + 1], n + 1)[: -1 if i < 3 else None]
             for i, n in enumerate(ROW_SEGMENTS)]
    return np.concatenate(parts)


def column_angles(s: ValveShape) -> np.ndarray:
    """Angles of the ``N_THETA`` root columns: 20 per sinus, starting at each commissure."""
    j = np.arange(N_PER_SINUS) / N_PER_SINUS
    return np.concatenate([a + j * w for a, w in zip(s.commissure_angles, s.spans(), strict=True)])


def leaflet_surface(k: int, u: np.ndarray, v: np.ndarray, s: ValveShape) -> np.ndarray:
    """(..., 3) local points of leaflet ``k`` at ``u`` (commissure k -> k+1) and ``v``
    (hinge line -> free edge), both in [0, 1]."""
    u = np.asarray(u, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)[..., None]
    phi0, span = s.commissure_angles[k], s.spans()[k]
    theta = phi0 + u * span
    hinge = root_surface(s.commissure_height * np.abs(np.cos(np.pi * u)) ** s.hinge_exponent,
                         theta, s)
    # closed: the free edge runs commissure -> centre (coaptation) -> next commissure
    w = np.abs(2 * u - 1)
    end_angle = np.where(u < 0.5, phi0, phi0 + span)
    r_end = root_radius(s.commissure_height, end_angle, s) - s.commissure_gap
    z_closed = s.coaptation_height + (s.commissure_height - s.coaptation_height) * w**1.5
    closed = np.stack([w * r_end * np.cos(end_angle), w * r_end * np.sin(end_angle), z_closed], -1)
    # open: the free edge lies near the sinus wall at about the commissure height
    z_open = s.commissure_height * (1 - 0.12 * np.sin(np.pi * u))
    r_open = np.minimum(s.open_radius * base_radius(z_open, s),
                        root_radius(z_open, theta, s) - s.commissure_gap)
    opened = np.stack([r_open * np.cos(theta), r_open * np.sin(theta), z_open], -1)
    o = s.leaflet_opening
    free = (1 - o) * closed + o * opened
    p = (1 - v) * hinge + v * free
    bump = np.sin(np.pi * v[..., 0]) * np.abs(np.sin(np.pi * u)) ** 0.8
    radial = np.stack([np.cos(theta), np.sin(theta), np.zeros_like(theta)], -1)
    p = p - ((1 - o) * s.belly_closed * bump)[..., None] * np.array([0.0, 0.0, 1.0])
    p = p - (o * s.belly_open * bump)[..., None] * radial
    return _keep_inside(p, v[..., 0], s)


def _keep_inside(p: np.ndarray, v: np.ndarray, s: ValveShape) -> np.ndarray:
    """Pull leaflet points off the root wall into the lumen (the hinge row stays put)."""
    c = centerline(p[..., 2], s)
    d = p[..., :2] - c
    rho = np.linalg.norm(d, axis=-1)
    theta = np.arctan2(d[..., 1], d[..., 0])
    margin = np.minimum(1.0, v / 0.15) * (0.5 + 0.5 * s.leaflet_thickness)
    limit = root_radius(p[..., 2], theta, s) - margin
    scale = np.where(rho > limit, limit / np.maximum(rho, 1e-9), 1.0)
    out = p.copy()
    out[..., :2] = c + d * scale[..., None]
    return out


def valve_vertices(s: ValveShape) -> np.ndarray:
    """(``TOPOLOGY.n_vertices``, 3) local vertices of the valve mesh."""
    z, theta = np.meshgrid(row_heights(s), column_angles(s), indexing="ij")
    parts = [root_surface(z, theta, s).reshape(-1, 3)]
    u, v = np.meshgrid(np.linspace(0, 1, LEAFLET_NU), np.linspace(0, 1, LEAFLET_NV), indexing="ij")
    for k in range(3):
        parts.append(leaflet_surface(k, u, v, s).reshape(-1, 3))
    return np.concatenate(parts)
